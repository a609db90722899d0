"""Translation for dubbing: whole sentences with their neighbours as context, several candidates
per sentence, each split back onto the sentence's lines. Which candidate is spoken is decided
later, when the voice is known (pipeline.choose), from how long each would take to say.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from globalvoice.domain.glossary import GlossaryEntry, applicable_entries
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.mt.requests import Candidate, CandidateTranslator, TranslationRequest
from globalvoice.pipeline.keys import sentence_translation_key
from globalvoice.pipeline.translate.sentences import group_sentences, split_translation
from globalvoice.storage.cache import ArtifactCache

__all__ = ["DEFAULT_SENTENCE_OPTIONS", "SentenceOptions", "translate_for_dubbing"]

_BUDGET_RATIO = 1.1  # the source's own length plus 10 %: what its speaker fitted in the slot
_CANDIDATES = TypeAdapter(list[tuple[str, float]])  # a sentence's usable (text, score), best first


@dataclass(frozen=True, slots=True, kw_only=True)
class SentenceOptions:
    n_best: int = 8
    context_before: int = 2
    context_after: int = 1
    glossary: tuple[GlossaryEntry, ...] = ()


DEFAULT_SENTENCE_OPTIONS = SentenceOptions()


def _kept(line: Line, target: str, reason: str) -> TranslatedLine:
    return TranslatedLine(
        line=line,
        language=target,
        text=line.text,
        engine="none",
        is_dubbed=False,
        note=f"{reason}: original audio kept",
        group_id=line.id,
    )


def _request(
    texts: list[str], index: int, group: list[Line], target: str, options: SentenceOptions
) -> TranslationRequest:
    text = " ".join(line.text for line in group)
    return TranslationRequest(
        text=text,
        source=group[0].language,
        target=target,
        context_before=tuple(texts[max(0, index - options.context_before) : index]),
        context_after=tuple(texts[index + 1 : index + 1 + options.context_after]),
        max_chars=max(1, round(_BUDGET_RATIO * len(text))),
        glossary=applicable_entries(options.glossary, group[0].language, target),
    )


def _lines_of(group: list[Line], target: str, found: list[Candidate]) -> list[TranslatedLine]:
    usable = [c for c in found if not c.failed and c.text.strip()]
    if not usable:
        error = next((c.error for c in found if c.error), "no translation")
        return [_kept(line, target, f"translation failed ({error})") for line in group]
    weights = [max(1, line.duration_ms) for line in group]
    pieces = [split_translation(c.text, weights) for c in usable]
    return [
        TranslatedLine(
            line=line,
            language=target,
            text=pieces[0][i],
            engine=usable[0].engine,
            group_id=group[0].id,
            alternatives=tuple(p[i] for p in pieces),
            scores=tuple(round(c.score, 4) for c in usable),
        )
        for i, line in enumerate(group)
    ]


def translate_for_dubbing(
    lines: Sequence[Line],
    target: str,
    *,
    translator: CandidateTranslator,
    cache: ArtifactCache,
    options: SentenceOptions = DEFAULT_SENTENCE_OPTIONS,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[TranslatedLine, ...]:
    groups = [[lines[i] for i in g] for g in group_sentences(lines)]
    texts = [" ".join(line.text for line in g) for g in groups]
    engine = translator.info.fingerprint
    pairs = translator.pairs()
    results: dict[str, TranslatedLine] = {}
    pending: list[tuple[list[Line], TranslationRequest, str]] = []
    for index, group in enumerate(groups):
        source = group[0].language
        if source == target or (source, target) not in pairs:
            reason = (
                "already in the target language"
                if source == target
                else (f"no {source}->{target} translation installed")
            )
            results.update({line.id: _kept(line, target, reason) for line in group})
            continue
        request = _request(texts, index, group, target, options)
        key = sentence_translation_key(request, engine, options.n_best)
        cached = cache.get_model(key, _CANDIDATES)
        if cached is not None:
            found = [Candidate(text=t, score=s, engine=engine) for t, s in cached]
            results.update({ln.line.id: ln for ln in _lines_of(group, target, found)})
        else:
            pending.append((group, request, key))
    if pending:
        answers = translator.translate_candidates(
            [request for _, request, _ in pending], n_best=options.n_best
        )
        for (group, _, key), found in zip(pending, answers, strict=True):
            good = [(c.text, c.score) for c in found if not c.failed]
            if good:
                cache.put_model(key, good, _CANDIDATES)
            results.update({ln.line.id: ln for ln in _lines_of(group, target, found)})
    progress(StageProgress(stage="translate", done=len(lines), total=len(lines), language=target))
    return tuple(results[line.id] for line in lines)
