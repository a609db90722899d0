"""Object keys: '/'-separated relative names, checked the same way by every blob store."""

__all__ = ["MAX_KEY_BYTES", "validate_key", "validate_prefix"]

MAX_KEY_BYTES = 1024  # the S3 limit


def _check_segments(text: str, segments: list[str], what: str) -> None:
    if text.startswith("/"):
        raise ValueError(f"{what} must be relative, got {text!r}")
    if "\\" in text:
        raise ValueError(f"{what} must not contain a backslash: {text!r}")
    if any(ord(char) < 0x20 or char == "\x7f" for char in text):
        raise ValueError(f"{what} must not contain control characters: {text!r}")
    if len(text.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is longer than {MAX_KEY_BYTES} bytes")
    for segment in segments:
        if not segment:
            raise ValueError(f"{what} has an empty segment: {text!r}")
        if segment.startswith("."):  # '.', '..' and the stores' own temporary names
            raise ValueError(f"{what} has a segment starting with '.': {text!r}")


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise ValueError when it is not a safe relative object name."""
    if not key:
        raise ValueError("an object key must not be empty")
    _check_segments(key, key.split("/"), "object key")
    return key


def validate_prefix(prefix: str) -> str:
    """A key prefix: '' (everything), 'a/b/' (a folder) or 'a/b' (every key starting so)."""
    if not prefix:
        return prefix
    segments = prefix.split("/")
    if segments[-1] == "":
        segments.pop()  # a trailing '/' names a folder
    _check_segments(prefix, segments, "key prefix")
    return prefix
