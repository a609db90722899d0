"""Timing fit: each dubbed line starts at its source line's start and ends before the next line.

The chain: predict the voice's natural duration before synthesis -> pick the TTS's own speed so
the take fits -> synthesize once -> match the voice to its speaker (WORLD DSP, length kept to the
sample, so the prediction and the tempo accounting hold) -> Rubber Band for the exact remainder,
never beyond the tempo cap. A line that still does not fit is placed, flagged and reported; it
is never cut or dropped.
"""

from collections.abc import Callable
from dataclasses import dataclass

from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import FitOutcome, FittedTake
from globalvoice.domain.script import Line
from globalvoice.domain.voices import DspMatch
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.stretch import stretch_to
from globalvoice.media.voice_dsp import apply_match

__all__ = ["FitPlan", "FitPolicy", "available_ms", "choose_speed", "fit_take", "plan_fit"]

MAX_TTS_SPEED_PERMILLE = 2000
# A sped-up take may end this much (1 %) shorter than its plan (the duration estimate's error)
# before Rubber Band brings it back to the planned length: no needless speed-up beyond that.
SPEED_SLACK_PERMILLE = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class FitPolicy:
    max_tempo_permille: int = 1300
    min_gap_ms: int = 80


@dataclass(frozen=True, slots=True, kw_only=True)
class FitPlan:
    outcome: FitOutcome
    tts_speed_permille: int  # the tempo the placed take needs; 1000 = natural
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


def choose_speed(
    *, target_ms: int, estimate_ms: Callable[[int], int], low: int = 1000, high: int | None = None
) -> int:
    """The lowest TTS speed (permille, `low`..`high`) whose predicted take lasts <= `target_ms`.

    The speed knob is not linear in duration (Kokoro: 1.2 shortens a take ~1.14x), so the speed
    comes from the engine's own prediction, never from the tempo ratio. `high` when none fits.
    """
    high = MAX_TTS_SPEED_PERMILLE if high is None else high
    if estimate_ms(low) <= target_ms:
        return low
    while high - low > 1:  # invariant: low does not fit, high fits or is the ceiling
        middle = (low + high) // 2
        if estimate_ms(middle) <= target_ms:
            high = middle
        else:
            low = middle
    return high


def fit_take(
    line: Line,
    text: str,
    language: str,
    voice: str,
    *,
    slot_ms: int,
    tts: Synthesizer,
    policy: FitPolicy,
    dsp: DspMatch | None = None,
) -> FittedTake:
    """Synthesize `text` once, at the speed its predicted natural duration needs to fit
    `slot_ms`, match it to the speaker with `dsp`, then fix the remainder exactly; the result
    starts at the line's start."""

    def estimate(speed_permille: int) -> int:
        return tts.estimate_ms(text, voice=voice, language=language, speed_permille=speed_permille)

    predicted = plan_fit(natural_ms=estimate(1000), available_ms=slot_ms, policy=policy)
    speed = 1000
    if predicted.outcome is not FitOutcome.NATURAL:
        speed = choose_speed(target_ms=predicted.target_ms, estimate_ms=estimate)
    audio = tts.synthesize(text, voice=voice, language=language, speed_permille=speed)
    if dsp is not None:
        audio = apply_match(audio, dsp)  # same length: before the stretch, so it lands exactly
    natural_ms = audio.duration_ms
    if speed != 1000:
        # What the voice would take at speed 1.0: the measured take scaled by the model's own
        # predicted length ratio between speed 1.0 and this speed (the engine's frame counts),
        # not by the speed itself, which overstates it (Kokoro at 1.2 is ~1.14x shorter).
        natural_ms = round(audio.duration_ms * estimate(1000) / max(1, estimate(speed)))
    return place_take(
        audio, line, natural_ms=natural_ms, tts_speed_permille=speed, slot_ms=slot_ms, policy=policy
    )


def place_take(
    audio: Pcm,
    line: Line,
    *,
    natural_ms: int,
    tts_speed_permille: int,
    slot_ms: int,
    policy: FitPolicy,
) -> FittedTake:
    """Bring a synthesized take into its slot: Rubber Band stretches what is still too long to
    the planned length, and slows back to it a sped-up take that came out more than
    `SPEED_SLACK_PERMILLE` too short (or beyond the tempo cap) because its estimate was long."""
    plan = plan_fit(natural_ms=natural_ms, available_ms=slot_ms, policy=policy)
    too_fast = natural_ms * 1000 > policy.max_tempo_permille * audio.duration_ms or (
        tts_speed_permille != 1000
        and audio.duration_ms * 1000 < plan.target_ms * (1000 - SPEED_SLACK_PERMILLE)
    )
    if audio.duration_ms > plan.target_ms or too_fast:
        audio = stretch_to(audio, plan.target_ms)
    placed_ms = max(1, audio.duration_ms)
    outcome = plan.outcome
    if outcome is FitOutcome.NATURAL and placed_ms < natural_ms:
        outcome = FitOutcome.SPED_UP  # predicted too long: sped up a little though it fitted
    return FittedTake(
        line_id=line.id,
        audio=audio,
        start_ms=line.start_ms,
        slot_ms=slot_ms,
        natural_ms=natural_ms,
        tempo=round(natural_ms / placed_ms, 4),
        tts_speed_permille=tts_speed_permille,
        outcome=outcome,
    )
