"""JSON codecs for the data passed between stages, so each stage can run on another worker."""

from pydantic import TypeAdapter

from globalvoice.domain.script import TranslatedLine
from globalvoice.dubbing.steps import RenderedLine, SourceAnalysis

__all__ = ["dump", "load_analysis", "load_rendered", "load_translated"]

_ANALYSIS = TypeAdapter(SourceAnalysis)
_TRANSLATED = TypeAdapter(tuple[TranslatedLine, ...])
_RENDERED = TypeAdapter(tuple[RenderedLine, ...])


def dump(value: object) -> bytes:
    """JSON for a SourceAnalysis or a tuple of TranslatedLine or RenderedLine."""
    if isinstance(value, SourceAnalysis):
        return _ANALYSIS.dump_json(value)
    if not isinstance(value, tuple):
        raise TypeError(f"cannot encode {type(value).__name__}")
    if all(isinstance(item, TranslatedLine) for item in value):
        return _TRANSLATED.dump_json(value)
    return _RENDERED.dump_json(value)


def load_analysis(data: bytes) -> SourceAnalysis:
    return _ANALYSIS.validate_json(data)


def load_translated(data: bytes) -> tuple[TranslatedLine, ...]:
    return _TRANSLATED.validate_json(data)


def load_rendered(data: bytes) -> tuple[RenderedLine, ...]:
    return _RENDERED.validate_json(data)
