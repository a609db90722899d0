"""The dubbing script: lines (the unit of editing and caching) and their translations."""

from dataclasses import dataclass

__all__ = ["Line", "TranslatedLine"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One dubbing line: a sentence (or part of a long one) spoken by one speaker."""

    id: str
    start_ms: int
    end_ms: int
    text: str
    language: str
    speaker_id: str = "S1"

    def __post_init__(self) -> None:
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError(f"line {self.id}: bad span {self.start_ms}..{self.end_ms}")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslatedLine:
    """A line in the target language.

    `is_dubbed` is False when the line keeps its original audio.
    """

    line: Line
    language: str
    text: str
    engine: str
    is_dubbed: bool = True
    note: str = ""
    # The sentence this line belongs to (its first line's id) and, when the engine gave
    # several candidates, this line's share of each, best-scored first (`text` is one of them).
    group_id: str = ""
    alternatives: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    chosen: int = 0  # index into alternatives
