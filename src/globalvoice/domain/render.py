"""Rendering results: each line's synthesized take and how it was fitted to its slot."""

from dataclasses import dataclass
from enum import StrEnum

from globalvoice.domain.audio import Pcm

__all__ = ["FitOutcome", "FitStep", "FitStepKind", "FittedTake", "Placement", "TimedPhoneme"]


class FitOutcome(StrEnum):
    NATURAL = "natural"  # fits at the voice's own rate
    SPED_UP = "sped_up"  # fits thanks to the TTS rate and/or time-stretch within the cap
    FLAGGED = "flagged"  # still longer than its slot at the tempo cap: placed, flagged, reported
    KEPT_ORIGINAL = "kept_original"  # not dubbed (e.g. already in the target language)


class FitStepKind(StrEnum):
    """The steps of the fitting chain; their order is configured (`PipelineSettings.fit`)."""

    CANDIDATE = "candidate"  # which translation candidate is spoken (chosen before synthesis)
    TTS_RATE = "tts_rate"  # the TTS's own speaking rate, up to the comfortable tempo
    BORROW = "borrow"  # silence after the line, up to the borrow limit
    PAUSES = "pauses"  # the take's own long pauses shortened, down to a floor, words untouched
    STRETCH = "stretch"  # pitch-preserving time-stretch, the total within the tempo cap
    RETRANSLATE = "retranslate"  # a shorter candidate re-rendered once, when still too long
    FLAG = "flag"  # still too long: placed whole at the cap, flagged for review


@dataclass(frozen=True, slots=True, kw_only=True)
class FitStep:
    """One step the chain used on a line. `value` by kind: candidate and retranslate: the
    candidate index; tts_rate and stretch: the tempo factor in permille; borrow: milliseconds
    of silence taken; pauses: milliseconds taken out of the take's pauses; flag: 0."""

    kind: FitStepKind
    value: int = 0

    @property
    def label(self) -> str:
        """Human-readable: 'candidate:2', 'tts_rate:1.12', 'borrow:640ms', 'flagged'."""
        if self.kind in (FitStepKind.TTS_RATE, FitStepKind.STRETCH):
            return f"{self.kind.value}:{self.value / 1000:.3g}"
        if self.kind in (FitStepKind.BORROW, FitStepKind.PAUSES):
            return f"{self.kind.value}:{self.value}ms"
        if self.kind is FitStepKind.FLAG:
            return "flagged"
        return f"{self.kind.value}:{self.value}"


@dataclass(frozen=True, slots=True)
class TimedPhoneme:
    """A phoneme of a take and when it is spoken, in ms (relative to what the producer says)."""

    phoneme: str  # one IPA character (stress and length marks are not phonemes)
    start_ms: float
    end_ms: float


def _retranslated_to(steps: tuple[FitStep, ...]) -> int | None:
    found = [s.value for s in steps if s.kind is FitStepKind.RETRANSLATE]
    return found[0] if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedTake:
    """A take placed on the timeline. `tempo` = natural duration / placed duration.

    `slot_ms` is the line's own duration plus `borrowed_ms` of the silence after it; `steps`
    are the fitting chain's steps this take used, in the chain's order."""

    line_id: str
    audio: Pcm
    start_ms: int
    slot_ms: int
    natural_ms: int
    tempo: float
    tts_speed_permille: int
    outcome: FitOutcome
    borrowed_ms: int = 0
    steps: tuple[FitStep, ...] = ()

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.audio.duration_ms

    @property
    def fits(self) -> bool:
        return self.outcome is not FitOutcome.FLAGGED

    @property
    def retranslated_to(self) -> int | None:
        """The candidate index spoken instead of the chosen one, when re-translated."""
        return _retranslated_to(self.steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where and how a dubbed line was placed: a FittedTake without its audio."""

    line_id: str
    start_ms: int
    end_ms: int
    slot_ms: int
    natural_ms: int
    tempo: float
    tts_speed_permille: int
    outcome: FitOutcome
    borrowed_ms: int = 0
    steps: tuple[FitStep, ...] = ()  # the fitting chain's steps used, in order

    @property
    def fits(self) -> bool:
        return self.outcome is not FitOutcome.FLAGGED

    @property
    def retranslated_to(self) -> int | None:
        """The candidate index spoken instead of the chosen one, when re-translated."""
        return _retranslated_to(self.steps)

    @classmethod
    def of(cls, take: FittedTake) -> "Placement":
        return cls(
            line_id=take.line_id,
            start_ms=take.start_ms,
            end_ms=take.end_ms,
            slot_ms=take.slot_ms,
            natural_ms=take.natural_ms,
            tempo=take.tempo,
            tts_speed_permille=take.tts_speed_permille,
            outcome=take.outcome,
            borrowed_ms=take.borrowed_ms,
            steps=take.steps,
        )
