"""Timing fit: each dubbed line starts at its source line's start, fitted by one explicit chain.

The chain (`FitPolicy.steps`, configured in `PipelineSettings.fit`, default in this order):
the fitting translation candidate (chosen before synthesis, render/choose.py) -> the TTS's own
rate, up to the comfortable tempo -> borrowed silence after the line, up to a limit -> the
voice's own long pauses shortened to a floor (the words keep their rate; a take the TTS sped up
is made again slower by what its pauses give) -> a pitch-preserving time-stretch, the total
within the tempo cap -> a shorter re-translation, re-rendered once -> flagged for review. Each
step runs only while the line is still too long, except the re-translation, which also runs
when the line fits only past the comfortable tempo (a shorter wording read at an easy pace
beats the best wording read too fast). A sentence spanning several lines is re-translated as a
whole (render/synthesize.py), never line by line.

The duration is predicted before synthesis (`Synthesizer.estimate_ms`), so each line is
synthesized once (twice when its pauses allow a slower reading), at the speed its plan needs;
the voice is matched to its speaker (WORLD DSP, length kept to the sample), then Rubber Band
brings the take to the planned length. A line that still does not fit is placed whole at the
cap and flagged; it is never cut or dropped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.render import FitOutcome, FitStep, FitStepKind
from globalvoice.domain.script import Line
from globalvoice.engines.tts.protocol import Synthesizer

__all__ = [
    "DEFAULT_STEPS",
    "ChainPlan",
    "FitPolicy",
    "ReadingCost",
    "available_ms",
    "borrowable_ms",
    "ceil_div",
    "choose_speed",
    "needs_condensing",
    "permille",
    "pick_retranslation",
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


def permille(longer_ms: int, shorter_ms: int) -> int:
    return round(longer_ms * 1000 / max(1, shorter_ms))


def ceil_div(a: int, b: int) -> int:
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
            take = placed = max(slot, ceil_div(natural_ms * 1000, policy.comfortable_permille))
            if take < natural_ms:
                steps.append(FitStep(kind=kind, value=permille(natural_ms, take)))
        elif kind is FitStepKind.BORROW:
            borrowed = min(borrowable_ms(silence_ms, policy), placed - line_ms)
            if borrowed > 0:
                slot = line_ms + borrowed
                steps.append(FitStep(kind=kind, value=borrowed))
        elif kind is FitStepKind.STRETCH:
            floor_ms = ceil_div(natural_ms * 1000, policy.max_tempo_permille)
            stretched = min(take, max(slot, floor_ms))
            if stretched < placed:
                steps.append(FitStep(kind=kind, value=permille(take, stretched)))
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
    return (permille(natural_ms, plan.target_ms), max(0, plan.target_ms - plan.slot_ms))


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
