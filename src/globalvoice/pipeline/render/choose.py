"""Pick, per sentence, the translation candidate that fits its lines' time when spoken.

The first step of the fitting chain: the voice's own predicted duration (Synthesizer.estimate_ms)
of each candidate, best-scored first, against each of its lines' time budget. In the dub the
budget is what the chain reaches comfortably (`comfortable_budget`): the line's duration plus
the silence it may borrow, at the comfortable tempo. The first candidate that fits every line
is spoken. A sentence over several lines whose plain split (in proportion to the lines'
durations) leaves one line over its budget is re-cut to the voice's pace first
(pipeline/balance.py). When no candidate fits, the shortest among those close in score to the
best is, and the rest of the chain (TTS rate, borrowed silence, time-stretch, re-translation)
makes up the difference.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from globalvoice.domain.render import FitStepKind
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.pipeline.render.balance import Shares, balance_shares
from globalvoice.pipeline.render.fit_policy import FitPolicy, borrowable_ms, silence_after_ms
from globalvoice.pipeline.voices.cast import SpeakerVoice

__all__ = [
    "ChoicePolicy",
    "choose_fitting",
    "choose_for_fit",
    "comfortable_budget",
    "is_condensed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoicePolicy:
    # How much worse (engine score units: mean log-probability per token for the Bergamot
    # decoder) a candidate may score than the best and still be spoken to fit the time.
    score_margin: float = 0.25


DEFAULT_CHOICE = ChoicePolicy()


def is_condensed(item: TranslatedLine, k: int, policy: ChoicePolicy = DEFAULT_CHOICE) -> bool:
    """Candidate `k` scores past the margin: a condensed translation (engines.mt.paraphrase)
    kept for lines that need it, never chosen by this step."""
    return bool(item.scores) and item.scores[k] < item.scores[0] - policy.score_margin


ESTIMATE_MARGIN_MS = 100
BALANCED_NOTE = "split over its lines at the voice's pace"


def _groups(translated: Sequence[TranslatedLine]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(translated):
        groups.setdefault(item.group_id or item.line.id, []).append(index)
    return list(groups.values())


def choose_fitting(
    translated: Sequence[TranslatedLine],
    *,
    voices: dict[str, SpeakerVoice],
    tts: Synthesizer,
    budget_ms: Callable[[Line], int],
    policy: ChoicePolicy = DEFAULT_CHOICE,
) -> tuple[TranslatedLine, ...]:
    chosen = list(translated)
    for indexes in _groups(translated):
        items = [translated[i] for i in indexes]
        count = min(len(item.alternatives) for item in items)
        if not all(item.is_dubbed for item in items) or (count <= 1 and len(items) == 1):
            continue
        voice = voices[items[0].line.speaker_id].synthesis_voice  # a sentence has one speaker

        def estimate(text: str, language: str = items[0].language, voice: str = voice) -> int:
            return tts.estimate_ms(text, voice=voice, language=language) if text.strip() else 0

        budgets = [budget_ms(item.line) for item in items]
        best_score = items[0].scores[0] if items[0].scores else 0.0
        tried: dict[int, tuple[Shares, int]] = {}  # candidate -> (shares, total estimate)
        pick = None
        for k in range(max(1, count)):
            if items[0].scores and items[0].scores[k] < best_score - policy.score_margin:
                break
            shares = tuple(item.alternatives[k] if count else item.text for item in items)
            each = [estimate(share) for share in shares]
            # Each line is placed at its own start: a candidate fits when every line's share
            # fits that line's budget (spare time in one line does not help its neighbour).
            fits = all(e <= b for e, b in zip(each, budgets, strict=True))
            if not fits and len(items) > 1:
                shares = balance_shares(shares, budgets, estimate)
                each = [estimate(share) for share in shares]
                fits = all(e <= b for e, b in zip(each, budgets, strict=True))
            tried[k] = (shares, sum(each))
            if fits:
                pick = k
                break
        if pick is None:
            pick = min(tried, key=lambda k: (tried[k][1], k))
            # Past the score margin, candidates shorter than every one tried (an engine's
            # condensed ones) are not spoken here but may be by the chain's 'retranslate'
            # step, which compares their lines: give them their re-cut shares too.
            for k in range(max(tried) + 1, count):
                shares = tuple(item.alternatives[k] for item in items)
                total = sum(estimate(share) for share in shares)
                if total < tried[pick][1]:
                    if len(items) > 1:
                        shares = balance_shares(shares, budgets, estimate)
                    tried[k] = (shares, total)
        for position, (i, item) in enumerate(zip(indexes, items, strict=True)):
            chosen[i] = _with_shares(item, pick, tried, position)
    return tuple(chosen)


def _with_shares(
    item: TranslatedLine, pick: int, tried: dict[int, tuple[Shares, int]], position: int
) -> TranslatedLine:
    """`item` speaking candidate `pick`, with every tried candidate's share as re-cut."""
    if not item.alternatives:  # a single translation (no candidates): its text is the share
        text = tried[pick][0][position]
        note = BALANCED_NOTE if text != item.text else item.note
        return replace(item, text=text, note=note)
    alternatives = tuple(
        tried[k][0][position] if k in tried else share for k, share in enumerate(item.alternatives)
    )
    text = alternatives[pick]
    note = BALANCED_NOTE if text != item.alternatives[pick] else item.note
    return replace(item, text=text, chosen=pick, alternatives=alternatives, note=note)


def comfortable_budget(
    translated: Sequence[TranslatedLine], *, policy: FitPolicy, media_end_ms: int
) -> Callable[[Line], int]:
    """Per line, the longest natural take the chain fits without going past the comfortable
    tempo: its duration plus the silence it may borrow, times the comfortable tempo when the TTS
    rate is a step (the time-stretch beyond it is the chain's reserve, not a target)."""
    reach: dict[str, int] = {}
    # The estimate's error (the trimmed end silence, sd ~50 ms): kept in hand so that a chosen
    # candidate does not land just past the comfortable tempo.
    starts = [item.line.start_ms for item in translated]
    tempo = policy.comfortable_permille if policy.uses(FitStepKind.TTS_RATE) else 1000
    for index, item in enumerate(translated):
        next_start = starts[index + 1] if index + 1 < len(starts) else None
        silence = silence_after_ms(item.line, next_start, media_end_ms, policy)
        slot = item.line.duration_ms + borrowable_ms(silence, policy)
        reach[item.line.id] = max(1, slot * tempo // 1000 - ESTIMATE_MARGIN_MS)
    return lambda line: reach.get(line.id, line.duration_ms)


def choose_for_fit(
    translated: Sequence[TranslatedLine],
    *,
    voices: dict[str, SpeakerVoice],
    tts: Synthesizer,
    policy: FitPolicy,
    media_end_ms: int,
    choice: ChoicePolicy = DEFAULT_CHOICE,
) -> tuple[TranslatedLine, ...]:
    """The chain's 'candidate' step: candidates chosen against `comfortable_budget`; the
    engine's best-scored ones kept unchanged when the chain has no such step."""
    if not policy.uses(FitStepKind.CANDIDATE):
        return tuple(translated)
    budget = comfortable_budget(translated, policy=policy, media_end_ms=media_end_ms)
    return choose_fitting(translated, voices=voices, tts=tts, budget_ms=budget, policy=choice)
