"""Timing fit: each dubbed line starts at its source line's start and ends before the next line.

The chain: the voice's natural rate -> the TTS's own speed control -> Rubber Band for the exact
remainder, never beyond the tempo cap. A line that still does not fit is placed, flagged and
reported; it is never cut or dropped.
"""

from dataclasses import dataclass

from globalvoice.domain.render import FitOutcome, FittedTake, Take
from globalvoice.domain.script import Line
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.stretch import stretch_to

__all__ = ["FitPlan", "FitPolicy", "available_ms", "fit_take", "plan_fit"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FitPolicy:
    max_tempo_permille: int = 1300
    min_gap_ms: int = 80


@dataclass(frozen=True, slots=True, kw_only=True)
class FitPlan:
    outcome: FitOutcome
    tts_speed_permille: int  # 1000 = no re-synthesis
    target_ms: int  # the placed length


def available_ms(
    line: Line, next_start_ms: int | None, media_end_ms: int, policy: FitPolicy
) -> int:
    """The slot a dubbed line may fill: up to the next line (less a gap), or the media's end."""
    limit = (next_start_ms - policy.min_gap_ms) if next_start_ms is not None else media_end_ms
    return max(line.duration_ms, limit - line.start_ms)


def plan_fit(*, natural_ms: int, available_ms: int, policy: FitPolicy) -> FitPlan:
    """Pure policy: how to bring a take of `natural_ms` into `available_ms`."""
    if natural_ms <= available_ms:
        return FitPlan(outcome=FitOutcome.NATURAL, tts_speed_permille=1000, target_ms=natural_ms)
    required_permille = -(-natural_ms * 1000 // available_ms)  # ceiling
    if required_permille <= policy.max_tempo_permille:
        return FitPlan(
            outcome=FitOutcome.SPED_UP, tts_speed_permille=required_permille, target_ms=available_ms
        )
    capped_ms = -(-natural_ms * 1000 // policy.max_tempo_permille)
    return FitPlan(
        outcome=FitOutcome.FLAGGED,
        tts_speed_permille=policy.max_tempo_permille,
        target_ms=capped_ms,
    )


def fit_take(
    natural: Take,
    line: Line,
    text: str,
    language: str,
    *,
    slot_ms: int,
    tts: Synthesizer,
    policy: FitPolicy,
) -> FittedTake:
    """Fit one take into `slot_ms` following `plan_fit`; the result starts at the line's start."""
    natural_ms = natural.audio.duration_ms
    plan = plan_fit(natural_ms=natural_ms, available_ms=slot_ms, policy=policy)
    audio = natural.audio
    if plan.tts_speed_permille != 1000:
        audio = tts.synthesize(
            text, voice=natural.voice, language=language, speed_permille=plan.tts_speed_permille
        )
        if audio.duration_ms > plan.target_ms:
            audio = stretch_to(audio, plan.target_ms)
    placed_ms = max(1, audio.duration_ms)
    return FittedTake(
        line_id=line.id,
        audio=audio,
        start_ms=line.start_ms,
        slot_ms=slot_ms,
        natural_ms=natural_ms,
        tempo=round(natural_ms / placed_ms, 4),
        tts_speed_permille=plan.tts_speed_permille,
        outcome=plan.outcome,
    )
