"""Timing fit: each dubbed line starts at its source line's start, fitted by one explicit chain.

The chain (`FitPolicy.steps`, configured in `PipelineSettings.fit`, default in this order):
the fitting translation candidate (chosen before synthesis, pipeline/choose.py) -> the TTS's own
rate, up to the comfortable tempo -> borrowed silence after the line, up to a limit -> the
voice's own long pauses shortened to a floor (the words keep their rate; a take the TTS sped up
is made again slower by what its pauses give) -> a pitch-preserving time-stretch, the total
within the tempo cap -> a shorter re-translation, re-rendered once -> flagged for review. Each
step runs only while the line is still too long, except the re-translation, which also runs
when the line fits only past the comfortable tempo (a shorter wording read at an easy pace
beats the best wording read too fast). A sentence spanning several lines is re-translated as a
whole (pipeline/render.py), never line by line.

The duration is predicted before synthesis (`Synthesizer.estimate_ms`), so each line is
synthesized once (twice when its pauses allow a slower reading), at the speed its plan needs;
the voice is matched to its speaker (WORLD DSP, length kept to the sample), then Rubber Band
brings the take to the planned length. A line that still does not fit is placed whole at the
cap and flagged; it is never cut or dropped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import FitOutcome, FitStep, FitStepKind, FittedTake
from globalvoice.domain.script import Line
from globalvoice.domain.voices import DspMatch
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.pauses import PAUSE_FRAME_MS, find_pauses, pause_excess_ms, tighten_pauses
from globalvoice.media.stretch import stretch_to
from globalvoice.media.voice_dsp import apply_match

__all__ = [
    "DEFAULT_STEPS",
    "ChainPlan",
    "FitPolicy",
    "ReadingCost",
    "available_ms",
    "borrowable_ms",
    "choose_speed",
    "fit_take",
    "needs_condensing",
    "pick_retranslation",
    "place_take",
    "plan_chain",
    "predicted_reading",
    "reading_cost",
    "silence_after_ms",
]

MAX_TTS_SPEED_PERMILLE = 2000
ReadingCost = tuple[int, int]  # (total tempo permille, overrun ms): lower reads easier
# A sped-up take may end this much (1 %) shorter than its plan (the duration estimate's error)
# before Rubber Band brings it back to the planned length: no needless speed-up beyond that.
SPEED_SLACK_PERMILLE = 10
DEFAULT_STEPS = tuple(FitStepKind)
# The 'pauses' step makes a sped-up take again only when that reads it this much slower.
RESYNTHESIS_MIN_GAIN_PERMILLE = 10
# How far past the comfortable tempo a predicted reading must be before a condensed candidate
# (one scored past the choice margin: it may drop detail) is taken: the pauses step and the
# estimate's error move a take by about this much (LJSpeech minute to Spanish: a sentence
# predicted just past 1.15x read at 1.15x with its pauses shortened).
CONDENSED_NEED_PERMILLE = 15


@dataclass(frozen=True, slots=True, kw_only=True)
class FitPolicy:
    """The fitting chain's steps in order and its limits (tempos in permille, 1000 = natural)."""

    max_tempo_permille: int = 1300
    min_gap_ms: int = 80
    steps: tuple[FitStepKind, ...] = DEFAULT_STEPS
    borrow_limit_ms: int = 1500
    comfortable_permille: int = 1150
    pause_floor_ms: int = 150  # a comma still sounds like one

    def uses(self, kind: FitStepKind) -> bool:
        return kind in self.steps

    @property
    def fingerprint(self) -> str:
        """What in the policy changes a take (for cache keys): the steps, limits and tempos."""
        order = ",".join(step.value for step in self.steps)
        return (
            f"{order}|borrow={self.borrow_limit_ms}|comfortable={self.comfortable_permille}"
            f"|cap={self.max_tempo_permille}|pause_floor={self.pause_floor_ms}"
        )

    @classmethod
    def of(cls, settings: PipelineSettings) -> "FitPolicy":
        cap = round(settings.max_tempo * 1000)
        return cls(
            max_tempo_permille=cap,
            min_gap_ms=settings.min_gap_ms,
            steps=tuple(FitStepKind(step) for step in settings.fit.steps),
            borrow_limit_ms=settings.fit.borrow_silence_ms,
            comfortable_permille=min(cap, round(settings.fit.comfortable_tempo * 1000)),
            pause_floor_ms=settings.fit.pause_floor_ms,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainPlan:
    """How the per-take steps bring a take of `natural_ms` into its slot."""

    outcome: FitOutcome
    take_ms: int  # the synthesized take's length, after the TTS rate
    target_ms: int  # the placed length, after the time-stretch
    slot_ms: int  # the line's duration plus the borrowed silence
    borrowed_ms: int
    steps: tuple[FitStep, ...]  # tts_rate, borrow, stretch and flag, as used, in order
    # the chain reached 'retranslate' still too long, or fitting only past the comfortable tempo
    wants_retranslation: bool


def _permille(longer_ms: int, shorter_ms: int) -> int:
    return round(longer_ms * 1000 / max(1, shorter_ms))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def silence_after_ms(
    line: Line, next_start_ms: int | None, media_end_ms: int, policy: FitPolicy
) -> int:
    """The silence after a line: up to the next line's start less the gap, or the media's end."""
    limit = (next_start_ms - policy.min_gap_ms) if next_start_ms is not None else media_end_ms
    return max(0, limit - line.end_ms)


def borrowable_ms(silence_ms: int, policy: FitPolicy) -> int:
    """How much of `silence_ms` a line's dub may take under `policy`."""
    return min(silence_ms, policy.borrow_limit_ms) if policy.uses(FitStepKind.BORROW) else 0


def available_ms(
    line: Line, next_start_ms: int | None, media_end_ms: int, policy: FitPolicy
) -> int:
    """The most a dubbed line may fill: its own duration plus the borrowable silence after it."""
    silence = silence_after_ms(line, next_start_ms, media_end_ms, policy)
    return line.duration_ms + borrowable_ms(silence, policy)


def plan_chain(
    *,
    natural_ms: int,
    line_ms: int,
    silence_ms: int,
    policy: FitPolicy,
    retranslated: bool = False,
) -> ChainPlan:
    """Pure policy: walk the chain's steps in order while a take of `natural_ms` is longer than
    its slot (at first `line_ms`). The TTS rate goes up to the comfortable tempo; borrowing
    takes at most `borrow_limit_ms` of `silence_ms`, and only what is needed; the stretch takes
    the total tempo at most to the cap; a re-translation is wanted when the take reaches that step
    too long or past the comfortable tempo. `retranslated`: the re-translation was already used."""
    slot, take, placed, borrowed = line_ms, natural_ms, natural_ms, 0
    steps: list[FitStep] = []
    wants_retranslation = False
    for kind in policy.steps:
        if kind is FitStepKind.RETRANSLATE:
            uncomfortable = natural_ms * 1000 > policy.comfortable_permille * placed
            wants_retranslation = not retranslated and (placed > slot or uncomfortable)
            continue
        if placed <= slot:
            continue
        if kind is FitStepKind.TTS_RATE:
            take = placed = max(slot, _ceil_div(natural_ms * 1000, policy.comfortable_permille))
            if take < natural_ms:
                steps.append(FitStep(kind=kind, value=_permille(natural_ms, take)))
        elif kind is FitStepKind.BORROW:
            borrowed = min(borrowable_ms(silence_ms, policy), placed - line_ms)
            if borrowed > 0:
                slot = line_ms + borrowed
                steps.append(FitStep(kind=kind, value=borrowed))
        elif kind is FitStepKind.STRETCH:
            floor_ms = _ceil_div(natural_ms * 1000, policy.max_tempo_permille)
            stretched = min(take, max(slot, floor_ms))
            if stretched < placed:
                steps.append(FitStep(kind=kind, value=_permille(take, stretched)))
                placed = stretched
    outcome = FitOutcome.NATURAL if placed >= natural_ms else FitOutcome.SPED_UP
    if placed > slot:
        outcome = FitOutcome.FLAGGED
        steps.append(FitStep(kind=FitStepKind.FLAG))
    return ChainPlan(
        outcome=outcome,
        take_ms=take,
        target_ms=placed,
        slot_ms=slot,
        borrowed_ms=borrowed,
        steps=tuple(steps),
        wants_retranslation=wants_retranslation,
    )


def reading_cost(
    *, natural_ms: int, line_ms: int, silence_ms: int, policy: FitPolicy
) -> ReadingCost:
    """How hard the chain's per-take steps make a take of `natural_ms` to listen to: its total
    tempo (permille), then how far it still overruns its slot (flagged takes all sit at the cap).
    An empty share of a sentence (0 ms) costs nothing."""
    if natural_ms <= 0:
        return (1000, 0)
    plan = plan_chain(
        natural_ms=natural_ms,
        line_ms=line_ms,
        silence_ms=silence_ms,
        policy=policy,
        retranslated=True,
    )
    return (_permille(natural_ms, plan.target_ms), max(0, plan.target_ms - plan.slot_ms))


def predicted_reading(
    text: str,
    *,
    line: Line,
    language: str,
    voice: str,
    silence_ms: int,
    tts: Synthesizer,
    policy: FitPolicy,
) -> ReadingCost:
    """`reading_cost` of `text` spoken on `line`, from the voice's predicted duration (an empty
    text costs nothing)."""
    natural = tts.estimate_ms(text, voice=voice, language=language) if text.strip() else 0
    return reading_cost(
        natural_ms=natural, line_ms=line.duration_ms, silence_ms=silence_ms, policy=policy
    )


def needs_condensing(cost: ReadingCost, policy: FitPolicy) -> bool:
    """True when a reading is clearly too fast or does not fit: only then is a condensed
    candidate worth its loss of detail."""
    return cost[1] > 0 or cost[0] > policy.comfortable_permille + CONDENSED_NEED_PERMILLE


def pick_retranslation(
    costs: Sequence[ReadingCost], current: ReadingCost, policy: FitPolicy
) -> int | None:
    """Which of the candidates (in the engine's score order) to re-translate to, given their
    reading costs and the current one's: the best-scored that reads at the comfortable tempo or
    below, else the easiest to read; None when none is easier than the current."""
    for index, (tempo, overrun) in enumerate(costs):
        if tempo <= policy.comfortable_permille and overrun == 0:
            return index
    if not costs:
        return None
    easiest = min(range(len(costs)), key=lambda i: (costs[i], i))
    return easiest if costs[easiest] < current else None


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
    silence_ms: int,
    tts: Synthesizer,
    policy: FitPolicy,
    dsp: DspMatch | None = None,
    candidate: int | None = None,
    alternatives: Sequence[tuple[int, str]] = (),
    retranslated: int | None = None,
) -> FittedTake:
    """Fit `text` to `line` (followed by `silence_ms` of silence) through the chain: plan from
    the predicted duration, swap in the shortest of `alternatives` (candidate index, text) once
    when the plan wants a re-translation and it is predicted shorter, synthesize once at the
    planned speed, match the voice with `dsp`, then place the take exactly.
    `candidate`: the chosen candidate's index, recorded as the chain's first step;
    `retranslated`: `text` is already a re-translation (candidate index), made for the whole
    sentence the line belongs to; it is recorded and not re-translated again."""

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
        if dsp is not None:
            audio = apply_match(audio, dsp)  # same length: before the stretch, so it lands exactly
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
        candidate=candidate,
        retranslated=retranslated,
        paused_ms=paused_ms,
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
    past_comfortable = _ceil_div(before_ms - comfortable_ms, PAUSE_FRAME_MS) * PAUSE_FRAME_MS
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
    candidate: int | None = None,
    retranslated: int | None = None,
    paused_ms: int = 0,
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
            candidate=candidate,
            retranslated=retranslated,
            paused_ms=paused_ms,
            tts_tempo_permille=(
                _permille(natural_ms, synthesized_ms) if tts_speed_permille != 1000 else None
            ),
            stretch_permille=_permille(synthesized_ms, placed_ms),
        ),
    )


def _record(
    plan: ChainPlan,
    policy: FitPolicy,
    *,
    candidate: int | None,
    retranslated: int | None,
    paused_ms: int,
    tts_tempo_permille: int | None,
    stretch_permille: int,
) -> tuple[FitStep, ...]:
    """The steps a placed take used, in the chain's order, with the measured tempos: the TTS
    rate when the take was synthesized faster than 1.0 (`tts_tempo_permille` not None), the
    stretch when Rubber Band changed its length by 0.5 % or more."""
    used: dict[FitStepKind, int | None] = {
        FitStepKind.CANDIDATE: candidate,
        FitStepKind.TTS_RATE: tts_tempo_permille,
        FitStepKind.BORROW: plan.borrowed_ms or None,
        FitStepKind.PAUSES: paused_ms or None,
        FitStepKind.STRETCH: stretch_permille if abs(stretch_permille - 1000) >= 5 else None,
        FitStepKind.RETRANSLATE: retranslated,
        FitStepKind.FLAG: 0 if plan.outcome is FitOutcome.FLAGGED else None,
    }
    order = [*policy.steps, *([] if policy.uses(FitStepKind.FLAG) else [FitStepKind.FLAG])]
    return tuple(
        FitStep(kind=kind, value=value) for kind in order if (value := used.get(kind)) is not None
    )
