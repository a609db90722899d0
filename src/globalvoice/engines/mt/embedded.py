"""The offline translator: Bergamot en<->pt plus Apertium, chained through pivot languages.

Measured on NTREX (docs/OFFLINE_STACK.md), pivoting through Portuguese with the neural en<->pt
models beat direct Apertium on every English pair, so Apertium's own en<->es is only used when
the neural models are absent.
"""

from collections import deque
from collections.abc import Sequence
from itertools import pairwise

from globalvoice.domain.errors import UnsupportedLanguage
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.apertium import ApertiumTranslator
from globalvoice.engines.mt.bergamot import LICENCE as BERGAMOT_LICENCE
from globalvoice.engines.mt.bergamot import BergamotTranslator
from globalvoice.engines.mt.protocol import Translator

__all__ = ["EmbeddedTranslator"]

_DOMINATED_BY_PIVOT = frozenset({("en", "es"), ("es", "en")})
_MAX_HOPS = 3  # longer chains lose too much meaning to be worth dubbing


class EmbeddedTranslator:
    def __init__(self, engines: Sequence[Translator] | None = None) -> None:
        self._engines: tuple[Translator, ...] = tuple(
            engines if engines is not None else (BergamotTranslator(), ApertiumTranslator())
        )
        self._edges: dict[LanguagePair, Translator] = {}
        for engine in self._engines:  # earlier engines win a pair
            for pair in engine.pairs():
                self._edges.setdefault(pair, engine)
        self._routes = {pair: self._find_route(*pair) for pair in self._all_pairs()}

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="mt.embedded",
            model_id="+".join(e.info.fingerprint for e in self._engines),
            licence=f"Bergamot: {BERGAMOT_LICENCE}; Apertium: GPL-3.0",
        )

    def _languages(self) -> set[str]:
        return {lang for pair in self._edges for lang in pair}

    def _all_pairs(self) -> list[LanguagePair]:
        langs = sorted(self._languages())
        return [(s, t) for s in langs for t in langs if s != t]

    def _usable(self, pair: LanguagePair, *, allow_dominated: bool) -> bool:
        return pair in self._edges and (allow_dominated or pair not in _DOMINATED_BY_PIVOT)

    def _find_route(self, source: str, target: str) -> tuple[str, ...] | None:
        has_neural = any(e.info.name == "mt.bergamot" for e in self._engines)
        for allow_dominated in (not has_neural, True):
            queue: deque[tuple[str, ...]] = deque([(source,)])
            seen = {source}
            while queue:
                path = queue.popleft()
                if path[-1] == target:
                    return path
                if len(path) > _MAX_HOPS:
                    continue
                for nxt in sorted(self._languages() - seen):
                    if self._usable((path[-1], nxt), allow_dominated=allow_dominated):
                        seen.add(nxt)
                        queue.append((*path, nxt))
        return None

    def path(self, source: str, target: str) -> tuple[str, ...] | None:
        """The languages a translation passes through, source first; None when unsupported."""
        return self._routes.get((source, target))

    def edge(self, source: str, target: str) -> Translator:
        """The engine that translates one hop of a path."""
        return self._edges[(source, target)]

    def pairs(self) -> frozenset[LanguagePair]:
        return frozenset(pair for pair, route in self._routes.items() if route is not None)

    def route(self, source: str, target: str) -> str:
        path = self._routes.get((source, target))
        if path is None:
            return "unsupported"
        hops = [
            f"{a}->{b} {self._edges[(a, b)].info.name.split('.')[-1]}" for a, b in pairwise(path)
        ]
        return ", ".join(hops)

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        path = self._routes.get((source, target))
        if path is None:
            supported = ", ".join(f"{s}->{t}" for s, t in sorted(self.pairs()))
            raise UnsupportedLanguage(
                f"No offline translation from {source} to {target}. Supported pairs: {supported}. "
                "Configure a production engine (GV_MT__KIND) for other languages."
            )
        current = list(texts)
        for a, b in pairwise(path):
            current = self._edges[(a, b)].translate(current, source=a, target=b)
        return current
