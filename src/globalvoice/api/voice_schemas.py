"""Bodies of /v1/voices and of a dub speaker's voice assignment."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DubVoicesOut", "VoiceAssign", "VoiceDetail", "VoiceMerge", "VoiceOut", "VoicePage"]


class VoiceOut(BaseModel):
    id: str = Field(examples=["voc_3f0c..."])
    name: str
    created_at: datetime
    updated_at: datetime
    n_videos: int = Field(description="distinct dubs or videos this voice spoke in")
    dims: int = Field(description="length of the speaker embedding")
    has_reference: bool = Field(description="a reference recording is stored")


class VoiceUseOut(BaseModel):
    source: str = Field(description="a dub id or a video digest")
    used_at: datetime


class VoiceDetail(VoiceOut):
    uses: list[VoiceUseOut]


class VoicePage(BaseModel):
    voices: list[VoiceOut]
    next_cursor: str | None
    has_more: bool


class VoiceRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)


class VoiceMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    absorb_id: str = Field(
        max_length=40, description="the voice folded into this one, then deleted"
    )


class VoiceAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice_id: str = Field(max_length=40)


class DubVoicesOut(BaseModel):
    dub_id: str
    voices: dict[str, str] = Field(description="speaker id -> library voice id chosen for it")
