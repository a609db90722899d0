"""n-best candidates through the embedded routes, pivots included.

Every Bergamot hop of a route (en->pt, pt->en) widens each candidate into n-best candidates
from the numpy decoder, wherever it sits: en->pt->es widens at the first hop, es->pt->en at the
second; the hop's shorter paraphrased translations (engines.mt.paraphrase) ride along after the
n best. Every rule-based hop (Apertium, one answer) carries each candidate on. Candidates that
end up with the same text are merged, the best score kept. The character budget is handed to
every hop as is: Romance languages on these routes differ little in length, and the caller
re-checks the final text anyway. A route with no Bergamot hop (es<->pt, es->fr) has one answer.
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
    best_and_shorter,
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
        """Walk the route hop by hop: a Bergamot hop widens each candidate into its n-best
        (scores add up; the `n_best` best are kept), a rule-based hop carries each one on."""
        lists = [[Candidate(text=r.text, score=0.0, engine="")] for r in requests]
        for hop, (a, b) in enumerate(pairwise(path)):
            if (a, b) in self._bergamot.pairs():
                lists = self._widen(lists, requests, a, b, n_best, first=hop == 0)
            else:
                lists = self._carry(lists, a, b)
        engine = self.info.fingerprint
        result: list[list[Candidate]] = []
        for candidates in lists:
            merged: dict[str, Candidate] = {}
            for candidate in candidates:
                key = "" if candidate.failed else candidate.text
                if key not in merged or candidate.score > merged[key].score:
                    merged[key] = (
                        candidate if candidate.failed else replace(candidate, engine=engine)
                    )
            result.append(sorted(merged.values(), key=lambda c: -c.score))
        return result

    def _widen(
        self,
        lists: list[list[Candidate]],
        requests: list[TranslationRequest],
        a: str,
        b: str,
        n_best: int,
        *,
        first: bool,
    ) -> list[list[Candidate]]:
        # Context is in the source language: only the first hop can use it.
        hop = [
            replace(
                request,
                text=candidate.text,
                source=a,
                target=b,
                glossary=(),
                context_before=request.context_before if first else (),
                context_after=request.context_after if first else (),
            )
            for request, candidates in zip(requests, lists, strict=True)
            for candidate in candidates
            if not candidate.failed
        ]
        found = iter(self._bergamot.translate_candidates(hop, n_best=n_best))
        widened: list[list[Candidate]] = []
        for candidates in lists:
            grown: list[Candidate] = []
            for candidate in candidates:
                if candidate.failed:
                    grown.append(candidate)
                    continue
                for child in next(found):
                    score = child.score if child.failed else candidate.score + child.score
                    grown.append(replace(child, score=score))
            widened.append(best_and_shorter(sorted(grown, key=lambda c: -c.score), n_best))
        return widened

    def _carry(self, lists: list[list[Candidate]], a: str, b: str) -> list[list[Candidate]]:
        flat = [c for candidates in lists for c in candidates if not c.failed]
        texts = iter(
            self._embedded.edge(a, b).translate([c.text for c in flat], source=a, target=b)
        )
        return [
            [c if c.failed else replace(c, text=next(texts)) for c in candidates]
            for candidates in lists
        ]
