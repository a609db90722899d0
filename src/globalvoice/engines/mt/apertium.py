"""Apertium rule-based translation (GPL-3.0), run as a separate process, lines batched per call."""

import shutil
import subprocess
from collections.abc import Sequence

from globalvoice.domain.errors import ConfigError, UnsupportedLanguage
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo

__all__ = ["ApertiumTranslator"]

# Our language pair -> the Apertium mode that translates it (Debian apertium-* packages).
MODES: dict[LanguagePair, str] = {
    ("en", "es"): "eng-spa",
    ("es", "en"): "spa-eng",
    ("es", "pt"): "es-pt",
    ("pt", "es"): "pt-es",
    ("es", "fr"): "es-fr",
    ("fr", "es"): "fr-es",
    ("es", "it"): "spa-ita",
    ("it", "es"): "ita-spa",
    ("en", "ca"): "eng-cat",
    ("ca", "en"): "cat-eng",
}
_SEPARATOR = "\n\n"


def installed_modes() -> frozenset[str]:
    if shutil.which("apertium") is None:
        return frozenset()
    result = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=False)
    return frozenset(line.strip() for line in result.stdout.splitlines() if line.strip())


class ApertiumTranslator:
    def __init__(self) -> None:
        modes = installed_modes()
        self._pairs = frozenset(pair for pair, mode in MODES.items() if mode in modes)

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="mt.apertium", model_id="apertium-debian12", licence="GPL-3.0")

    def pairs(self) -> frozenset[LanguagePair]:
        return self._pairs

    def route(self, source: str, target: str) -> str:
        return f"{source}->{target} (Apertium)"

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        if (source, target) not in self._pairs:
            raise UnsupportedLanguage(f"Apertium has no installed {source}->{target} pair.")
        if not texts:
            return []
        cleaned = [" ".join(text.split()) for text in texts]
        outputs = self._run(_SEPARATOR.join(cleaned), MODES[(source, target)]).split(_SEPARATOR)
        if len(outputs) != len(cleaned):  # a line break got lost: fall back to one call per line
            outputs = [self._run(text, MODES[(source, target)]) for text in cleaned]
        return [out.strip() for out in outputs]

    @staticmethod
    def _run(text: str, mode: str) -> str:
        result = subprocess.run(
            ["apertium", "-u", mode], input=text, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ConfigError(
                f"apertium {mode} failed: reinstall the Apertium pair packages "
                "(scripts/install.sh).",
                detail=result.stderr[-500:],
            )
        return result.stdout.strip()
