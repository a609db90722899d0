"""Translate lines into a target language, batched per source language.

Lines already in the target language keep their original audio; lines in a language with no
route to the target are kept too and reported, so one odd line never fails the whole dub.
"""

from collections.abc import Sequence

from globalvoice.domain.errors import UnsupportedLanguage
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.mt.protocol import Translator

__all__ = ["check_pairs", "translate_lines"]


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


def _why_not_translated(source: str, target: str, translator: Translator) -> str | None:
    if source == target:
        return "already in the target language"
    if (source, target) not in translator.pairs():
        return f"no {source}->{target} translation installed"
    return None


def translate_lines(
    lines: Sequence[Line],
    target: str,
    *,
    translator: Translator,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[TranslatedLine, ...]:
    by_language: dict[str, list[Line]] = {}
    for line in lines:
        by_language.setdefault(line.language, []).append(line)
    done: dict[str, TranslatedLine] = {}
    engine = translator.info.name
    for source, group in by_language.items():
        reason = _why_not_translated(source, target, translator)
        if reason is not None:
            for line in group:
                done[line.id] = TranslatedLine(
                    line=line,
                    language=target,
                    text=line.text,
                    engine="none",
                    is_dubbed=False,
                    note=f"{reason}: original audio kept",
                )
            continue
        outputs = translator.translate([line.text for line in group], source=source, target=target)
        for line, text in zip(group, outputs, strict=True):
            done[line.id] = TranslatedLine(line=line, language=target, text=text, engine=engine)
        progress(
            StageProgress(stage="translate", done=len(done), total=len(lines), language=target)
        )
    progress(StageProgress(stage="translate", done=len(lines), total=len(lines), language=target))
    return tuple(done[line.id] for line in lines)
