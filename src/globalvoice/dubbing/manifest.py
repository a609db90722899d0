"""The manifest: every artifact, every segment and how it was dubbed, and each stage's time.

A pydantic model: `schemas/manifest.schema.json` is generated from it (`write_schema`), the CLI
summary and the service read its attributes, and every test that writes one validates it.
"""

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from globalvoice.config.settings import PipelineSettings
from globalvoice.dubbing.timing import StageTime
from globalvoice.pipeline.lipsync.report import LipsyncReport
from globalvoice.pipeline.separate.stems import SeparationFigures
from globalvoice.pipeline.voices.recall import VoiceChoice

__all__ = [
    "MANIFEST_SCHEMA",
    "ArtifactEntry",
    "DiarizationEntry",
    "EngineEntry",
    "FitEntry",
    "FitSummary",
    "InputEntry",
    "LanguageSummary",
    "LibraryVoiceEntry",
    "LipsyncEntry",
    "Manifest",
    "OverlapEntry",
    "SegmentEntry",
    "SegmentTarget",
    "SoundEntry",
    "SpeakerEntry",
    "manifest_json_schema",
    "write_schema",
]

# Version 5: each target's picture ("lipsync": redrawn or not and why, the engine, line by line
# the face redrawn and the sync figures before and after).
# Version 4: the sound bed ("sound": separated or ducked, why, the separation's figures) and
# the separated stems among the artifacts (kinds "background", the M&E track, and "dialogue").
# Version 3: a typed model with a JSON Schema; artifacts also list the transcript and each
# translation JSON (the CLI and the service write the same files).
# Version 2: each segment's target has its fitting chain ("fit") and each summary its outcome.
MANIFEST_SCHEMA: Final = "globalvoice.manifest/5"
SCHEMA_PATH = Path("schemas") / "manifest.schema.json"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputEntry(_Entry):
    name: str = Field(description="the user's file name, as given")
    sha256: str
    container: str
    duration_ms: int
    size_bytes: int
    audio_codec: str
    audio_rate_hz: int
    audio_channels: int
    audio_duration_ms: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None


class LibraryVoiceEntry(_Entry):
    voice_id: str
    name: str
    choice: VoiceChoice
    cosine: float | None = None


class SpeakerEntry(_Entry):
    speaker_id: str
    median_f0_hz: float | None = None
    formant_dispersion_hz: float | None = None
    is_female: bool | None = None
    voice: str | None = Field(default=None, description="the voice their lines are spoken with")
    voice_profile: dict[str, Any] | None = Field(
        default=None, description="blend, DSP and reference spans (never the embedding)"
    )
    library_voice: LibraryVoiceEntry | None = Field(description="null: no voice library used")
    lines: list[str]
    speech_ms: int | None = None
    turns: list[tuple[int, int]] | None = None


class DiarizationEntry(_Entry):
    estimated_count: int
    requested_count: int | None
    embedder: str


class OverlapEntry(_Entry):
    start_ms: int
    end_ms: int
    speaker_ids: list[str]


class EngineEntry(_Entry):
    name: str
    model: str
    licence: str


class ArtifactEntry(_Entry):
    language: str = Field(description="a language code, or 'all' for the manifest")
    kind: str = Field(examples=["video", "audio", "subtitles_srt", "transcript"])
    path: str = Field(description="relative to the output directory")


class FitEntry(_Entry):
    steps: list[str] = Field(examples=[["candidate:2", "tts_rate:1.12", "borrow:640ms"]])
    final_step: str
    tempo: float
    borrowed_ms: int
    candidate: int
    flagged: bool


class SegmentTarget(_Entry):
    text: str
    is_dubbed: bool
    note: str
    candidate: int
    candidates: int
    dubbed_start_ms: int | None
    dubbed_end_ms: int | None
    slot_ms: int | None
    natural_ms: int | None
    tempo: float | None
    tts_speed: float | None
    outcome: str
    fits: bool
    fit: FitEntry | None


class SegmentEntry(_Entry):
    id: str
    speaker: str
    start_ms: int
    end_ms: int
    source_language: str
    source_text: str
    targets: dict[str, SegmentTarget]


class FitSummary(_Entry):
    final_steps: dict[str, int]
    steps_used: dict[str, int]
    share_tempo_le_1_15: float | None
    share_within_cap: float | None
    tempo_percentiles: dict[str, float | None]
    borrowed_ms_total: int
    retranslated: int


class LanguageSummary(_Entry):
    route: str
    lines: int
    dubbed: int
    fits: int
    flagged: list[str]
    max_tempo: float
    fit: FitSummary
    loudness_lufs: float | None
    true_peak_dbtp: float | None


class SoundEntry(_Entry):
    """The bed the dub is mixed over."""

    mix: Literal["separated", "ducked", "source"] = Field(
        description="separated: the dub over the source's background (M&E), kept lines with "
        "their own dialogue; ducked: over the whole source, lowered under the dub; source: no "
        "speech, the source unchanged"
    )
    reason: str
    gain_db: float = Field(description="the bed's gain under dubbed speech (dip or duck)")
    loudness: Literal["dialogue"] = Field(
        default="dialogue", description="what is normalised to the target: the mix where lines play"
    )
    separation: SeparationFigures | None


class LipsyncEntry(_Entry):
    """A target's picture: the speaking faces redrawn to the dub, or the source's."""

    mode: Literal["auto", "on", "off"] = Field(description="pipeline.lipsync for this dub")
    redrawn: bool = Field(
        description="true: the video has faces redrawn; false: the source's picture, copied"
    )
    reason: str = Field(description="what was redrawn, or why nothing was")
    report: LipsyncReport | None = Field(
        description="the stage's engine, licence and line-by-line figures; null: it did not run"
    )


class Manifest(_Entry):
    schema_: Literal["globalvoice.manifest/5"] = Field(
        default="globalvoice.manifest/5", alias="schema"
    )
    globalvoice_version: str
    input: InputEntry
    source_language: str
    languages_detected: list[str]
    has_speech: bool
    speakers: list[SpeakerEntry]
    diarization: DiarizationEntry | None
    overlaps: list[OverlapEntry]
    engines: dict[str, EngineEntry]
    sound: SoundEntry
    lipsync: dict[str, LipsyncEntry] = Field(description="each target language's picture")
    settings: PipelineSettings
    artifacts: list[ArtifactEntry]
    summary: dict[str, LanguageSummary]
    segments: list[SegmentEntry]
    stages: list[StageTime]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        return cls.model_validate_json(text)


def manifest_json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": MANIFEST_SCHEMA,
        **schema,
    }


def write_schema(repo_root: Path) -> Path:
    """Write the manifest's JSON Schema into the repository (`schemas/manifest.schema.json`)."""
    path = repo_root / SCHEMA_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n")
    return path


if __name__ == "__main__":  # python -m globalvoice.dubbing.manifest: refresh the committed schema
    write_schema(Path.cwd())
