"""Content addressing: canonical JSON and derivation keys. Key material never holds floats."""

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "derive_key", "sha256_bytes"]


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("derivation keys must not contain floats; quantize to integers")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def canonical_json(value: Any) -> str:
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def derive_key(stage: str, version: int, **material: Any) -> str:
    """The key under which a stage's output for these inputs is cached."""
    return sha256_bytes(canonical_json({"stage": stage, "v": version, **material}).encode())
