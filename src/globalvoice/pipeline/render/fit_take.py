"""Fitting a take: synthesize a line at its planned speed, match the voice, shorten pauses,
stretch it to the planned length and place it at its source line's start (fit_policy plans how).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import FitOutcome, FitStep, FitStepKind, FittedTake
from globalvoice.domain.script import Line
from globalvoice.domain.voices import DspMatch
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.pauses import PAUSE_FRAME_MS, find_pauses, pause_excess_ms, tighten_pauses
from globalvoice.media.stretch import stretch_to
from globalvoice.media.voice_dsp import apply_match
from globalvoice.pipeline.render.fit_policy import (
    RESYNTHESIS_MIN_GAIN_PERMILLE,
    SPEED_SLACK_PERMILLE,
    ChainPlan,
    FitPolicy,
    ceil_div,
    choose_speed,
    permille,
    pick_retranslation,
    plan_chain,
    reading_cost,
)

__all__ = ["StepsBefore", "TakeRequest", "fit_take", "place_take"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeRequest:
    """One line's take: its text in `language`, read by `voice` and matched toward the speaker
    with `dsp`. `candidate`: the chosen candidate's index, recorded as the chain's first step;
    `alternatives`: (candidate index, text) the chain may re-translate to; `retranslated`:
    `text` is already a re-translation (candidate index), made for the whole sentence the line
    belongs to; it is recorded and not re-translated again."""

    line: Line
    text: str
    language: str
    voice: str
    dsp: DspMatch | None = None
    candidate: int | None = None
    alternatives: Sequence[tuple[int, str]] = ()
    retranslated: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepsBefore:
    """What the chain did before the take was placed, recorded with it."""

    candidate: int | None = None
    retranslated: int | None = None
    paused_ms: int = 0


def fit_take(
    request: TakeRequest, *, silence_ms: int, tts: Synthesizer, policy: FitPolicy
) -> FittedTake:
    """Fit the request's text to its line (followed by `silence_ms` of silence) through the
    chain: plan from the predicted duration, swap in the shortest of its alternatives once when
    the plan wants a re-translation and it is predicted shorter, synthesize once at the planned
    speed, match the voice, then place the take exactly."""
    line, text, language, voice = request.line, request.text, request.language, request.voice
    alternatives, retranslated = request.alternatives, request.retranslated

    def estimator(words: str) -> Callable[[int], int]:
        def estimate(speed_permille: int) -> int:
            return tts.estimate_ms(
                words, voice=voice, language=language, speed_permille=speed_permille
            )

        return estimate

    estimate = estimator(text)
    natural_estimate = estimate(1000)
    plan = plan_chain(
        natural_ms=natural_estimate,
        line_ms=line.duration_ms,
        silence_ms=silence_ms,
        policy=policy,
        retranslated=retranslated is not None,
    )
    if plan.wants_retranslation:
        options = [(k, estimator(t)(1000)) for k, t in alternatives if t.strip() and t != text]
        costs = [
            reading_cost(
                natural_ms=ms, line_ms=line.duration_ms, silence_ms=silence_ms, policy=policy
            )
            for _, ms in options
        ]
        now = reading_cost(
            natural_ms=natural_estimate,
            line_ms=line.duration_ms,
            silence_ms=silence_ms,
            policy=policy,
        )
        pick = pick_retranslation(costs, now, policy)
        if pick is not None:
            retranslated, natural_estimate = options[pick]
            text = dict(alternatives)[retranslated]
            estimate = estimator(text)
            plan = plan_chain(
                natural_ms=natural_estimate,
                line_ms=line.duration_ms,
                silence_ms=silence_ms,
                policy=policy,
                retranslated=True,
            )
    speed = 1000
    if plan.take_ms < natural_estimate:
        speed = choose_speed(target_ms=plan.take_ms, estimate_ms=estimate)

    def take_at(speed_permille: int) -> tuple[Pcm, int]:
        """The take at a TTS speed, voice-matched, and what the voice would take at 1.0."""
        audio = tts.synthesize(text, voice=voice, language=language, speed_permille=speed_permille)
        if request.dsp is not None:  # same length: before the stretch, so it lands exactly
            audio = apply_match(audio, request.dsp)
        if speed_permille == 1000:
            return audio, audio.duration_ms
        # The measured take scaled by the model's own predicted length ratio between speed 1.0
        # and this speed (the engine's frame counts), not by the speed itself, which overstates
        # it (Kokoro at 1.2 is ~1.14x shorter).
        return audio, round(audio.duration_ms * natural_estimate / max(1, estimate(speed_permille)))

    audio, natural_ms = take_at(speed)
    paused_ms = 0
    if policy.uses(FitStepKind.PAUSES):
        audio, natural_ms, speed, paused_ms = _tighten(
            audio, natural_ms, speed, line=line, silence_ms=silence_ms, policy=policy,
            estimate=estimate, take_at=take_at,
        )  # fmt: skip
    return place_take(
        audio,
        line,
        natural_ms=natural_ms,
        tts_speed_permille=speed,
        silence_ms=silence_ms,
        policy=policy,
        before=StepsBefore(
            candidate=request.candidate, retranslated=retranslated, paused_ms=paused_ms
        ),
    )


def _tighten(
    audio: Pcm,
    natural_ms: int,
    speed: int,
    *,
    line: Line,
    silence_ms: int,
    policy: FitPolicy,
    estimate: Callable[[int], int],
    take_at: Callable[[int], tuple[Pcm, int]],
) -> tuple[Pcm, int, int, int]:
    """The 'pauses' step: when the take is still longer than its placement, shorten its own
    pauses (down to `policy.pause_floor_ms`) by what the time-stretch would otherwise take. A
    take the TTS sped up is first made again slower by what its pauses can give, so the words
    are read as slowly as the slot allows. Returns the take, its natural length with the
    shortened pauses, the TTS speed and the milliseconds taken out."""

    def target(natural: int) -> int:
        return plan_chain(
            natural_ms=natural, line_ms=line.duration_ms, silence_ms=silence_ms,
            policy=policy, retranslated=True,
        ).target_ms  # fmt: skip

    goal = target(natural_ms)
    if audio.duration_ms <= goal:
        return audio, natural_ms, speed, 0
    pauses = [p.duration_ms for p in find_pauses(audio)]
    if not pause_excess_ms(pauses, floor_ms=policy.pause_floor_ms):
        return audio, natural_ms, speed, 0
    if speed > 1000:
        # At another speed every pause scales with the take (the TTS's durations all divide by
        # it): the slowest speed whose take, pauses shortened, still reaches the goal.
        at_speed = max(1, estimate(speed))

        def tightened_ms(other: int) -> int:
            scale = estimate(other) / at_speed
            scaled = (ms * scale for ms in pauses)
            return round(estimate(other) - pause_excess_ms(scaled, floor_ms=policy.pause_floor_ms))

        slower = choose_speed(target_ms=goal, estimate_ms=tightened_ms, high=speed)
        if slower <= speed - RESYNTHESIS_MIN_GAIN_PERMILLE:
            audio, natural_ms = take_at(slower)
            speed, goal = slower, target(natural_ms)
    before_ms = audio.duration_ms
    # A take sped up to about the comfortable tempo keeps its words' rate when its pauses are
    # cut: should that rate be past the comfortable tempo (the speed knob's steps and the
    # estimate land a take a few ms either side of it), more of the pauses go (in whole frames
    # of the pause finder), and placing the take slows its words back to the comfortable tempo.
    comfortable_ms = policy.comfortable_permille * goal * before_ms // max(1, natural_ms * 1000)
    past_comfortable = ceil_div(before_ms - comfortable_ms, PAUSE_FRAME_MS) * PAUSE_FRAME_MS
    audio, removed = tighten_pauses(
        audio,
        remove_ms=max(0, before_ms - goal, past_comfortable),
        floor_ms=policy.pause_floor_ms,
    )
    # the words keep their rate: the natural length loses what the pauses lost, in its units
    return audio, natural_ms - round(removed * natural_ms / max(1, before_ms)), speed, removed


def place_take(
    audio: Pcm,
    line: Line,
    *,
    natural_ms: int,
    tts_speed_permille: int,
    silence_ms: int,
    policy: FitPolicy,
    before: StepsBefore = StepsBefore(),
) -> FittedTake:
    """Bring a synthesized take into its slot, planned again from its measured natural length:
    Rubber Band stretches what is still too long to the planned length, and slows back to it a
    sped-up take that came out more than `SPEED_SLACK_PERMILLE` too short (or beyond the tempo
    cap, or past the comfortable tempo) because its estimate was long. The steps are recorded
    with the values measured."""
    plan = plan_chain(
        natural_ms=natural_ms,
        line_ms=line.duration_ms,
        silence_ms=silence_ms,
        policy=policy,
        retranslated=True,
    )
    synthesized_ms = max(1, audio.duration_ms)
    # Faster than its plan: beyond the cap, more than the slack, or past the comfortable tempo
    # when the plan was not (the estimate's error must not push a line over that threshold).
    too_fast = (
        natural_ms * 1000 > policy.max_tempo_permille * synthesized_ms
        or (
            tts_speed_permille != 1000
            and synthesized_ms * 1000 < plan.target_ms * (1000 - SPEED_SLACK_PERMILLE)
        )
        or (
            synthesized_ms < plan.target_ms
            and natural_ms * 1000 > policy.comfortable_permille * synthesized_ms
        )
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
        slot_ms=plan.slot_ms,
        natural_ms=natural_ms,
        tempo=round(natural_ms / placed_ms, 4),
        tts_speed_permille=tts_speed_permille,
        outcome=outcome,
        borrowed_ms=plan.borrowed_ms,
        steps=_record(
            plan,
            policy,
            before,
            tts_tempo_permille=(
                permille(natural_ms, synthesized_ms) if tts_speed_permille != 1000 else None
            ),
            stretch_permille=permille(synthesized_ms, placed_ms),
        ),
    )


def _record(
    plan: ChainPlan,
    policy: FitPolicy,
    before: StepsBefore,
    *,
    tts_tempo_permille: int | None,
    stretch_permille: int,
) -> tuple[FitStep, ...]:
    """The steps a placed take used, in the chain's order, with the measured tempos: the TTS
    rate when the take was synthesized faster than 1.0 (`tts_tempo_permille` not None), the
    stretch when Rubber Band changed its length by 0.5 % or more."""
    used: dict[FitStepKind, int | None] = {
        FitStepKind.CANDIDATE: before.candidate,
        FitStepKind.TTS_RATE: tts_tempo_permille,
        FitStepKind.BORROW: plan.borrowed_ms or None,
        FitStepKind.PAUSES: before.paused_ms or None,
        FitStepKind.STRETCH: stretch_permille if abs(stretch_permille - 1000) >= 5 else None,
        FitStepKind.RETRANSLATE: before.retranslated,
        FitStepKind.FLAG: 0 if plan.outcome is FitOutcome.FLAGGED else None,
    }
    order = [*policy.steps, *([] if policy.uses(FitStepKind.FLAG) else [FitStepKind.FLAG])]
    return tuple(
        FitStep(kind=kind, value=value) for kind in order if (value := used.get(kind)) is not None
    )
