"""Machine translation of whole lines."""

from collections.abc import Sequence
from typing import Protocol

from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo

__all__ = ["Translator"]


class Translator(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def pairs(self) -> frozenset[LanguagePair]:
        """The (source, target) pairs this engine translates, as ISO 639-1 codes."""
        ...

    def route(self, source: str, target: str) -> str:
        """A short description of how `source` becomes `target` (engines and pivots)."""
        ...

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        """One output per input, same order. Raises UnsupportedLanguage for unknown pairs."""
        ...
