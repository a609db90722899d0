"""One validated dub request for the CLI and the API: the options, the limits, the output names."""

import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

__all__ = ["output_stem"]

_STEM_MAX_BYTES = 100
_FALLBACK_STEM = "input"
# Control characters, and the lone surrogates a file name undecodable as UTF-8 arrives with.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs"})


def output_stem(filename: str) -> str:
    """The stem output files are named from: the base name of `filename` without its extension,
    with no leading dot, no path separator or control character, at most 100 UTF-8 bytes (cut on
    a character boundary). Unicode is kept; "input" when nothing is left."""
    # The last component under either separator: "a\\b.mp4" from a Windows client is "b".
    base = PureWindowsPath(PurePosixPath(filename).name).name
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    kept = "".join(
        char
        for char in unicodedata.normalize("NFC", stem)
        if unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    kept = kept.strip().lstrip(".").strip()
    encoded = kept.encode("utf-8")[:_STEM_MAX_BYTES]
    kept = encoded.decode("utf-8", errors="ignore").rstrip()
    return kept or _FALLBACK_STEM
