"""Speech found in the source: VAD spans, words with times, and the transcript."""

from dataclasses import dataclass

__all__ = [
    "SpeechSpan",
    "Transcript",
    "TranscriptSegment",
    "Word",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechSpan:
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_ms <= self.end_ms:
            raise ValueError(f"bad span {self.start_ms}..{self.end_ms}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    start_ms: int
    end_ms: int
    text: str
    probability: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptSegment:
    start_ms: int
    end_ms: int
    text: str
    language: str
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript:
    language: str
    language_probability: float
    segments: tuple[TranscriptSegment, ...]

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments).strip()

    @property
    def languages(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for segment in self.segments:
            seen.setdefault(segment.language, None)
        return tuple(seen) or (self.language,)
