"""Speech found in the source: VAD spans, words with times, and the transcript."""

from dataclasses import dataclass

__all__ = [
    "SpeechSpan",
    "Transcript",
    "TranscriptSegment",
    "Word",
    "transcript_from_dict",
    "transcript_to_dict",
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


def transcript_to_dict(transcript: Transcript) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(transcript)


def transcript_from_dict(data: dict[str, object]) -> Transcript:
    segments = tuple(
        TranscriptSegment(
            start_ms=int(seg["start_ms"]),
            end_ms=int(seg["end_ms"]),
            text=str(seg["text"]),
            language=str(seg["language"]),
            words=tuple(Word(**word) for word in seg["words"]),
        )
        for seg in data["segments"]  # type: ignore[attr-defined]
    )
    return Transcript(
        language=str(data["language"]),
        language_probability=float(data["language_probability"]),  # type: ignore[arg-type]
        segments=segments,
    )
