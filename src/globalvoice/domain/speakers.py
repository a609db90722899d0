"""Who speaks when: speaker turns, overlapping speech, and the diarization of a source.

Speaker ids are "S1", "S2", ... in order of first appearance. Times are ms on the source timeline.
Every type is a frozen dataclass of ints, strings and tuples, so pydantic's TypeAdapter
serialises it both ways.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from globalvoice.domain.transcript import SpeechSpan

__all__ = [
    "Diarization",
    "OverlapRegion",
    "SpeakerTurn",
    "single_speaker",
    "speaker_label",
]


def speaker_label(index: int) -> str:
    """The id of the speaker heard `index`-th (0-based): "S1", "S2", ..."""
    return f"S{index + 1}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerTurn:
    """One stretch of speech by one speaker."""

    speaker_id: str
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError(f"turn of {self.speaker_id}: bad span {self.start_ms}..{self.end_ms}")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlapRegion:
    """A stretch where two speakers are heard at once. The turns give it to the dominant one."""

    start_ms: int
    end_ms: int
    speaker_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError(f"overlap: bad span {self.start_ms}..{self.end_ms}")
        if len(set(self.speaker_ids)) < 2:
            raise ValueError("an overlap needs two different speakers")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class Diarization:
    """The speakers of a source.

    `turns` are sorted and never overlap one another; together they cover the detected speech.
    `overlaps` mark where a second speaker talks over the turn's speaker. `estimated_count` is
    the number of distinct speakers in `turns`; `requested_count` is what the user asked for
    (None: estimated). `embedder` is the fingerprint of the speaker-embedding engine ("" when
    no embedding was needed: no speech, or one speaker requested).
    """

    turns: tuple[SpeakerTurn, ...]
    overlaps: tuple[OverlapRegion, ...] = ()
    estimated_count: int
    requested_count: int | None = None
    embedder: str = ""

    def __post_init__(self) -> None:
        for before, after in zip(self.turns, self.turns[1:], strict=False):
            if after.start_ms < before.end_ms:
                raise ValueError(f"turns overlap at {after.start_ms} ms")

    @property
    def speaker_ids(self) -> tuple[str, ...]:
        """Speakers in order of first appearance."""
        return tuple(dict.fromkeys(turn.speaker_id for turn in self.turns))

    def turns_of(self, speaker_id: str) -> tuple[SpeakerTurn, ...]:
        return tuple(turn for turn in self.turns if turn.speaker_id == speaker_id)

    def speech_ms(self, speaker_id: str) -> int:
        return sum(turn.duration_ms for turn in self.turns_of(speaker_id))

    def speaker_at(self, start_ms: int, end_ms: int) -> str | None:
        """The speaker with the most time in [start_ms, end_ms); the nearest turn's if none."""
        if not self.turns:
            return None
        ends = [turn.end_ms for turn in self.turns]  # sorted: turns never overlap
        index = bisect.bisect_right(ends, start_ms)
        shared: dict[str, int] = {}
        for turn in self.turns[index:]:
            if turn.start_ms >= end_ms:
                break
            both = min(end_ms, turn.end_ms) - max(start_ms, turn.start_ms)
            shared[turn.speaker_id] = shared.get(turn.speaker_id, 0) + max(both, 0)
        if shared and max(shared.values()) > 0:
            return max(shared, key=lambda speaker: shared[speaker])
        middle = (start_ms + end_ms) / 2
        near = self.turns[max(index - 1, 0) : index + 1]
        return min(near, key=lambda t: max(t.start_ms - middle, middle - t.end_ms)).speaker_id


def single_speaker(speech: Sequence[SpeechSpan], *, requested: int | None = None) -> Diarization:
    """Every span of speech given to "S1" (no speech: no speakers)."""
    turns = tuple(
        SpeakerTurn(speaker_id=speaker_label(0), start_ms=s.start_ms, end_ms=s.end_ms)
        for s in speech
        if s.end_ms > s.start_ms
    )
    return Diarization(turns=turns, estimated_count=1 if turns else 0, requested_count=requested)
