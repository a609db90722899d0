"""Settings: defaults that work offline, overridable by GV_* environment variables and CLI flags."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "EmbeddedMtConfig",
    "FasterWhisperConfig",
    "KokoroConfig",
    "PipelineSettings",
    "Settings",
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


SttConfig = Annotated[FasterWhisperConfig, Field(discriminator="kind")]
MtConfig = Annotated[EmbeddedMtConfig, Field(discriminator="kind")]
TtsConfig = Annotated[KokoroConfig, Field(discriminator="kind")]


class PipelineSettings(BaseModel):
    max_tempo: float = Field(default=1.3, ge=1.0, le=2.0, description="cap on speed-up per line")
    max_line_ms: int = Field(default=12_000, ge=2_000, description="split lines longer than this")
    pause_split_ms: int = Field(default=700, ge=100, description="a pause this long ends a line")
    min_gap_ms: int = Field(default=80, ge=0, description="silence kept before the next line")
    loudness_lufs: float = Field(default=-23.0, ge=-40.0, le=-5.0)
    true_peak_dbtp: float = Field(default=-1.0, ge=-9.0, le=0.0)
    duck_db: float = Field(default=-14.0, le=0.0, description="original audio gain under the dub")
    multilingual: bool = Field(default=True, description="detect language switches inside a file")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GV_", env_nested_delimiter="__")

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "globalvoice")
    stt: SttConfig = Field(default_factory=FasterWhisperConfig)
    mt: MtConfig = Field(default_factory=EmbeddedMtConfig)
    tts: TtsConfig = Field(default_factory=KokoroConfig)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
