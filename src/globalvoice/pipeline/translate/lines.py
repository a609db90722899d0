"""The preflight of translation: every target language must be reachable offline."""

from collections.abc import Sequence

from globalvoice.domain.errors import UnsupportedLanguage
from globalvoice.engines.mt.protocol import Translator

__all__ = ["check_pairs"]


def check_pairs(sources: Sequence[str], targets: Sequence[str], *, translator: Translator) -> None:
    """Preflight: every target must be reachable from the main source language."""
    pairs = translator.pairs()
    main = sources[0]
    missing = [t for t in targets if t != main and (main, t) not in pairs]
    if missing:
        supported = ", ".join(f"{s}->{t}" for s, t in sorted(pairs))
        raise UnsupportedLanguage(
            f"Cannot translate {main} to {', '.join(missing)} offline. Supported pairs: "
            f"{supported}. See `globalvoice languages`, or configure a production MT engine."
        )
