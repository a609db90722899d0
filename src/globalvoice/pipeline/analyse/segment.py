"""Build dubbing lines from timed words: sentences, split at pauses, at speaker changes and at a
maximum length."""

from collections.abc import Sequence
from dataclasses import dataclass

from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization
from globalvoice.domain.transcript import Transcript, Word

__all__ = ["SegmentPolicy", "build_lines"]

_SENTENCE_END = (".", "?", "!", "…", "。", "\uff1f", "\uff01")  # incl. full-width ? and !
_CLAUSE_END = (",", ";", ":", "\uff0c", "、")


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentPolicy:
    max_line_ms: int = 12_000
    pause_split_ms: int = 700


def _ends_with(word: Word, marks: tuple[str, ...]) -> bool:
    return word.text.strip().endswith(marks)


def _split_long(words: Sequence[Word], max_line_ms: int) -> list[list[Word]]:
    """Cut a too-long run of words, preferring a clause boundary in the later part."""
    pieces: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current and word.end_ms - current[0].start_ms > max_line_ms:
            cut = len(current)
            for index in range(len(current) - 1, len(current) // 2 - 1, -1):
                if _ends_with(current[index], _CLAUSE_END):
                    cut = index + 1
                    break
            pieces.append(current[:cut])
            current = current[cut:]
        current.append(word)
    if current:
        pieces.append(current)
    return pieces


def _word_speakers(words: Sequence[Word], speakers: Diarization | None) -> list[str]:
    """Each word's speaker: the turn sharing the most time with it, else the nearest turn."""
    fallback = speakers.speaker_ids[0] if speakers and speakers.turns else "S1"
    if speakers is None or len(speakers.speaker_ids) < 2:
        return [fallback] * len(words)
    return [
        speakers.speaker_at(w.start_ms, max(w.end_ms, w.start_ms + 1)) or fallback for w in words
    ]


def build_lines(
    transcript: Transcript, *, policy: SegmentPolicy, speakers: Diarization | None = None
) -> tuple[Line, ...]:
    """Group the transcript's words into lines. Every word lands in exactly one line.

    With `speakers`, a line never spans two speakers: it ends at the word where the speaker
    changes, and carries its speaker's id ("S1" without a diarization).
    """
    tagged = [(word, seg.language) for seg in transcript.segments for word in seg.words]
    who = _word_speakers([word for word, _ in tagged], speakers)
    runs: list[tuple[list[Word], str, str]] = []
    current: list[Word] = []
    for index, (word, language) in enumerate(tagged):
        current.append(word)
        nxt = tagged[index + 1] if index + 1 < len(tagged) else None
        should_close = (
            nxt is None
            or _ends_with(word, _SENTENCE_END)
            or nxt[0].start_ms - word.end_ms >= policy.pause_split_ms
            or nxt[1] != language
            or who[index + 1] != who[index]
        )
        if should_close:
            runs.append((current, language, who[index]))
            current = []
    lines: list[Line] = []
    for words, language, speaker in runs:
        for piece in _split_long(words, policy.max_line_ms):
            text = "".join(w.text for w in piece).strip()
            start_ms = piece[0].start_ms
            end_ms = max(piece[-1].end_ms, start_ms + 1)
            lines.append(
                Line(
                    id=f"L{len(lines) + 1:04d}",
                    start_ms=start_ms,
                    end_ms=end_ms,
                    text=" ".join(text.split()),
                    language=language,
                    speaker_id=speaker,
                )
            )
    return tuple(lines)
