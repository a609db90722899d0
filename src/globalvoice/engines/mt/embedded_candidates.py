"""n-best candidates through the embedded routes, pivots included.

The first hop of a route decides the wording: when it is a Bergamot hop (en->pt, pt->en) it
gives n-best candidates from the numpy decoder; every later hop (Apertium, rule-based, one
answer) carries each candidate on. Candidates that end up with the same text are merged, the
best score kept. The character budget is handed to the first hop as is: Romance languages on
these routes differ little in length, and the caller re-checks the final text anyway.
"""

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

from globalvoice.domain.errors import UnsupportedLanguage
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.embedded import EmbeddedTranslator
from globalvoice.engines.mt.requests import (
    Candidate,
    CandidateTranslator,
    MtCapabilities,
    TranslationRequest,
    group_by_pair,
)

__all__ = ["EmbeddedCandidateTranslator"]


class EmbeddedCandidateTranslator:
    def __init__(self, embedded: EmbeddedTranslator, bergamot: CandidateTranslator) -> None:
        self._embedded = embedded
        self._bergamot = bergamot

    @property
    def info(self) -> EngineInfo:
        base = self._embedded.info
        return EngineInfo(
            name=base.name,
            model_id=f"{base.model_id}+nbest:{self._bergamot.info.fingerprint}",
            licence=base.licence,
        )

    @property
    def capabilities(self) -> MtCapabilities:
        return MtCapabilities(n_best=True, length_budget=True)

    def pairs(self) -> frozenset[LanguagePair]:
        return self._embedded.pairs()

    def route(self, source: str, target: str) -> str:
        return self._embedded.route(source, target)

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        return self._embedded.translate(texts, source=source, target=target)

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        out: list[list[Candidate]] = [[] for _ in requests]
        for (source, target), indexes in group_by_pair(requests).items():
            path = self._embedded.path(source, target)
            if path is None:
                raise UnsupportedLanguage(f"No offline translation from {source} to {target}.")
            group = [requests[i] for i in indexes]
            for i, found in zip(indexes, self._along(path, group, n_best), strict=True):
                out[i] = found
        return out

    def _along(
        self, path: tuple[str, ...], requests: list[TranslationRequest], n_best: int
    ) -> list[list[Candidate]]:
        first, rest = (path[0], path[1]), list(pairwise(path[1:]))
        if first in self._bergamot.pairs():
            hop = [replace(r, source=first[0], target=first[1], glossary=()) for r in requests]
            lists = self._bergamot.translate_candidates(hop, n_best=n_best)
        else:
            texts = self._embedded.edge(*first).translate(
                [r.text for r in requests], source=first[0], target=first[1]
            )
            lists = [[Candidate(text=t, score=0.0, engine="")] for t in texts]
        engine = self.info.fingerprint
        flat = [c for candidates in lists for c in candidates if not c.failed]
        texts = [c.text for c in flat]
        for a, b in rest:
            texts = self._embedded.edge(a, b).translate(texts, source=a, target=b)
        carried = iter(zip(flat, texts, strict=True))
        result: list[list[Candidate]] = []
        for candidates in lists:
            merged: dict[str, Candidate] = {}
            for candidate in candidates:
                if candidate.failed:
                    merged.setdefault("", candidate)
                    continue
                _, text = next(carried)
                if text not in merged:
                    merged[text] = Candidate(text=text, score=candidate.score, engine=engine)
            result.append(sorted(merged.values(), key=lambda c: -c.score))
        return result
