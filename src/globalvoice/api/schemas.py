"""Request and response bodies (pydantic; they make the OpenAPI 3.1 schema)."""

from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from globalvoice.api.glossary_schemas import MAX_GLOSSARY_ENTRIES, GlossaryEntryIn
from globalvoice.domain.language import normalize_language
from globalvoice.dubbing.request import DubOptions

__all__ = [
    "ARTIFACT_KINDS",
    "ArtifactKind",
    "ArtifactOut",
    "DubCreate",
    "DubOptions",
    "DubOut",
    "DubPage",
    "DubSpeakerOut",
    "ErrorInfo",
    "ErrorResponse",
    "LibraryVoiceOut",
    "ProgressOut",
    "StageProgressOut",
    "UploadCreate",
    "UploadOut",
    "UploadTicket",
]

ArtifactKind = Literal[
    "video",
    "audio",
    "speech_stem",
    "subtitles_srt",
    "subtitles_vtt",
    "transcript",
    "translation",
    "manifest",
]
ARTIFACT_KINDS: tuple[str, ...] = get_args(ArtifactKind)
_MOST_TARGETS_LISTED = 100  # a bound on the body; the configured limit is checked on creation
DubStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _base_name(name: str) -> str:
    """The last path component, without control characters: never a path on our side."""
    base = PurePosixPath(name.replace("\\", "/")).name.strip()
    if not base or any(ord(char) < 0x20 or char == "\x7f" for char in base):
        raise ValueError("give a plain file name, such as talk.mp4")
    return base


Filename = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_base_name)]
SpeakerKey = Annotated[str, Field(pattern=r"^S[1-9][0-9]?$", examples=["S1"])]
VoiceId = Annotated[str, Field(min_length=1, max_length=40, examples=["voc_3f0c..."])]
LanguageCode = Annotated[
    str,
    Field(min_length=2, max_length=16, examples=["en", "pt-BR"]),
    AfterValidator(normalize_language),
]


class ErrorInfo(BaseModel):
    code: str = Field(examples=["media.no_audio"])
    message: str


class ErrorResponse(BaseModel):
    error: ErrorInfo


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: Filename
    size_bytes: int = Field(gt=0, description="exact size of the file that will be sent")
    content_type: str = Field(
        default="application/octet-stream",
        max_length=127,
        pattern=r"^[\w.+-]+/[\w.+-]+$",
        examples=["video/mp4"],
    )


class UploadOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size_bytes: int
    status: Literal["pending", "stored"]
    created_at: datetime


class UploadTicket(UploadOut):
    """Where to send the bytes: PUT them to `upload_url` with `headers`."""

    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    send_api_key: bool = Field(
        description="true when `upload_url` is this API: authenticate the PUT like any call"
    )
    expires_at: datetime | None = Field(description="when a presigned URL stops working")


class DubCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(max_length=40)
    target_languages: list[LanguageCode] = Field(
        min_length=1,
        max_length=_MOST_TARGETS_LISTED,
        description="at most the server's GV_LIMITS__MAX_TARGETS (default 16) once repeats "
        "are dropped",
    )
    source_language: LanguageCode | None = Field(default=None, description="null: detect it")
    options: DubOptions = Field(
        default_factory=DubOptions,
        description="the same options, ranges and messages as the CLI's flags",
    )
    glossary: list[GlossaryEntryIn] = Field(
        default_factory=list,
        max_length=MAX_GLOSSARY_ENTRIES,
        description="terms this dub keeps or translates one fixed way; they override the "
        "tenant's glossary (/v1/glossary) term by term",
    )
    voices: dict[SpeakerKey, VoiceId] = Field(
        default_factory=dict,
        max_length=20,
        description="speaker id -> library voice to speak them with (S1 is the first speaker "
        "heard); the others are matched to the library or added to it",
    )


class StageProgressOut(BaseModel):
    stage: str
    language: str | None
    done: int
    total: int
    fraction: float


class ProgressOut(BaseModel):
    stages: list[StageProgressOut]
    languages: dict[str, float] = Field(
        description="per target language, 0..1 (translation 5 %, synthesis 95 %; 1 when done)"
    )


class ArtifactOut(BaseModel):
    language: str
    kind: str
    content_type: str
    size_bytes: int
    url: str = Field(description="GET it with your API key; redirects to storage when it can")


class LibraryVoiceOut(BaseModel):
    voice_id: str
    name: str
    choice: Literal["assigned", "matched", "new"] = Field(
        description="assigned by the user; matched to an earlier voice (with its cosine); new"
    )
    cosine: float | None = Field(description="similarity to the matched voice")


class DubSpeakerOut(BaseModel):
    speaker_id: str
    voice: str | None = Field(description="the TTS voice (or blend) their lines are spoken with")
    library_voice: LibraryVoiceOut | None = Field(description="null: no voice library used")


class DubOut(BaseModel):
    id: str
    status: DubStatus
    upload_id: str
    source_language: str | None = Field(description="as requested (null: detect)")
    detected_language: str | None
    target_languages: list[str]
    options: dict[str, float | str] = Field(
        description="the options the dub was asked with (numbers, or auto|on|off)"
    )
    glossary: list[GlossaryEntryIn] = Field(
        default_factory=list, description="the glossary it translates with (tenant's + its own)"
    )
    expected_duration_s: float | None = Field(description="estimated processing time")
    progress: ProgressOut
    error: ErrorInfo | None
    artifacts: list[ArtifactOut]
    speakers: list[DubSpeakerOut] = Field(
        default_factory=list, description="known once the source is analysed"
    )
    created_at: datetime
    updated_at: datetime


class DubPage(BaseModel):
    dubs: list[DubOut]
    next_cursor: str | None
    has_more: bool
