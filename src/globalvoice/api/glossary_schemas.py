"""Bodies of /v1/glossary and of a dub's own glossary."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from globalvoice.domain.glossary import GlossaryEntry, entry_from_record

__all__ = ["MAX_GLOSSARY_ENTRIES", "GlossaryEntryIn", "GlossaryIn", "GlossaryOut", "to_entries"]

MAX_GLOSSARY_ENTRIES = 2_000


class GlossaryEntryIn(BaseModel):
    """A term kept as it is (no `translation`) or always translated as `translation`."""

    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1, max_length=200, examples=["GlobalVoice"])
    translation: str | None = Field(default=None, max_length=200, examples=[None])
    source_language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    target_language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    case_sensitive: bool = False

    @field_validator("term")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a glossary term cannot be blank")
        return value

    def entry(self) -> GlossaryEntry:
        return entry_from_record(self.model_dump())


class GlossaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[GlossaryEntryIn] = Field(max_length=MAX_GLOSSARY_ENTRIES)


class GlossaryOut(BaseModel):
    entries: list[GlossaryEntryIn]


def to_entries(entries: list[GlossaryEntryIn]) -> tuple[GlossaryEntry, ...]:
    return tuple(entry.entry() for entry in entries)
