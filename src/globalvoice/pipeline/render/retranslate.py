"""The fitting chain's 'retranslate' step for a sentence spoken over several lines.

A sentence is translated whole and its candidates are split onto its lines
(pipeline/translate_sentences.py), so a line cannot swap its share for another candidate's
without breaking the sentence: the whole sentence switches candidate, decided before synthesis
from the voice's predicted durations. Lines alone in their sentence are re-translated inside
`fit_policy.fit_take`.
"""

from collections.abc import Sequence

from globalvoice.domain.render import FitStepKind
from globalvoice.domain.script import TranslatedLine
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.pipeline.render.choose import is_condensed
from globalvoice.pipeline.render.fit_policy import (
    FitPolicy,
    ReadingCost,
    needs_condensing,
    pick_retranslation,
    predicted_reading,
    silence_after_ms,
)
from globalvoice.pipeline.voices.cast import SpeakerVoice

__all__ = ["sentence_retranslations"]


def sentence_retranslations(
    translated: Sequence[TranslatedLine],
    *,
    voices: dict[str, SpeakerVoice],
    tts: Synthesizer,
    policy: FitPolicy,
    media_end_ms: int,
) -> dict[int, int]:
    """The chain's 'retranslate' step for sentences spanning several lines, decided for the
    whole sentence so that its lines stay one translation: when the chosen candidate would make
    any of its lines read past the comfortable tempo (or not fit), the sentence switches to the
    best-scored candidate whose every line reads comfortably, else to the one whose hardest line
    reads easiest, if that is easier than now. Condensed candidates (`choose.is_condensed`) are
    considered only when the hardest line is clearly too fast (`fit_policy.needs_condensing`).
    Returns {line index: candidate index}."""
    if not policy.uses(FitStepKind.RETRANSLATE):
        return {}
    starts = [item.line.start_ms for item in translated]
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(translated):
        groups.setdefault(item.group_id or item.line.id, []).append(index)

    def hardest(indexes: list[int], k: int) -> ReadingCost:
        costs = []
        for i in indexes:
            item = translated[i]
            next_start = starts[i + 1] if i + 1 < len(starts) else None
            costs.append(
                predicted_reading(
                    item.alternatives[k],
                    line=item.line,
                    language=item.language,
                    voice=voices[item.line.speaker_id].synthesis_voice,
                    silence_ms=silence_after_ms(item.line, next_start, media_end_ms, policy),
                    tts=tts,
                    policy=policy,
                )
            )
        return max(costs)

    switched: dict[int, int] = {}
    for indexes in groups.values():
        items = [translated[i] for i in indexes]
        count = min(len(item.alternatives) for item in items)
        if len(items) < 2 or count < 2 or not all(item.is_dubbed for item in items):
            continue
        chosen = items[0].chosen
        now = hardest(indexes, chosen)
        if now[0] <= policy.comfortable_permille and now[1] == 0:
            continue
        condensed_ok = needs_condensing(now, policy)
        others = [
            k
            for k in range(count)
            if k != chosen and (condensed_ok or not is_condensed(items[0], k))
        ]
        pick = pick_retranslation([hardest(indexes, k) for k in others], now, policy)
        if pick is not None:
            switched.update(dict.fromkeys(indexes, others[pick]))
    return switched
