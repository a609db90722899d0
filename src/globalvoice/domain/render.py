"""Rendering results: each line's synthesized take and how it was fitted to its slot."""

from dataclasses import dataclass
from enum import StrEnum

from globalvoice.domain.audio import Pcm

__all__ = ["FitOutcome", "FittedTake"]


class FitOutcome(StrEnum):
    NATURAL = "natural"  # fits at the voice's own rate
    SPED_UP = "sped_up"  # fits thanks to the TTS rate and/or time-stretch within the cap
    FLAGGED = "flagged"  # still longer than its slot at the tempo cap: placed, flagged, reported
    KEPT_ORIGINAL = "kept_original"  # not dubbed (e.g. already in the target language)


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedTake:
    """A take placed on the timeline. `tempo` = natural duration / placed duration."""

    line_id: str
    audio: Pcm
    start_ms: int
    slot_ms: int
    natural_ms: int
    tempo: float
    tts_speed_permille: int
    outcome: FitOutcome

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.audio.duration_ms

    @property
    def fits(self) -> bool:
        return self.outcome is not FitOutcome.FLAGGED
