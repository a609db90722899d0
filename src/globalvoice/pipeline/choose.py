"""Pick, per sentence, the translation candidate that fits its lines' time when spoken.

The first step of the fitting chain: the voice's own predicted duration (Synthesizer.estimate_ms)
of each candidate, best-scored first, against the time the source speaker took. The first that
fits is spoken. When none does, the shortest among those close in score to the best is, and the
rest of the chain (TTS rate, borrowed silence, time-stretch) makes up the difference.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.pipeline.cast import SpeakerVoice

__all__ = ["ChoicePolicy", "choose_fitting"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoicePolicy:
    # How much worse (engine score units: mean log-probability per token for the Bergamot
    # decoder) a candidate may score than the best and still be spoken to fit the time.
    score_margin: float = 0.25


DEFAULT_CHOICE = ChoicePolicy()


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
        if count <= 1 or not all(item.is_dubbed for item in items):
            continue
        budget = sum(budget_ms(item.line) for item in items)
        best_score = items[0].scores[0]
        estimates: dict[int, int] = {}
        pick = None
        for k in range(count):
            if items[0].scores[k] < best_score - policy.score_margin:
                break
            estimates[k] = sum(
                tts.estimate_ms(
                    item.alternatives[k],
                    voice=voices[item.line.speaker_id].synthesis_voice,
                    language=item.language,
                )
                for item in items
                if item.alternatives[k].strip()
            )
            if estimates[k] <= budget:
                pick = k
                break
        if pick is None:
            pick = min(estimates, key=lambda k: (estimates[k], k))
        for i, item in zip(indexes, items, strict=True):
            chosen[i] = replace(item, text=item.alternatives[pick], chosen=pick)
    return tuple(chosen)
