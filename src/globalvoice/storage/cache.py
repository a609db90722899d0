"""A local artifact cache keyed by derivation key: an unchanged input is never recomputed."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from globalvoice.domain.audio import Pcm

__all__ = ["ArtifactCache"]


class ArtifactCache:
    def __init__(self, root: Path, *, enabled: bool = True) -> None:
        self._root = root / "artifacts"
        self._enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, key: str, suffix: str) -> Path:
        return self._root / key[:2] / f"{key}{suffix}"

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)

    def get_json(self, key: str) -> Any | None:
        path = self._path(key, ".json")
        if not self._enabled or not path.exists():
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(path.read_text(encoding="utf-8"))

    def put_json(self, key: str, value: Any) -> None:
        if self._enabled:
            self._write_atomic(self._path(key, ".json"), json.dumps(value).encode())

    def get_pcm(self, key: str) -> Pcm | None:
        path = self._path(key, ".npz")
        if not self._enabled or not path.exists():
            self.misses += 1
            return None
        self.hits += 1
        with np.load(path) as data:
            return Pcm(samples=data["samples"].astype(np.float32), rate_hz=int(data["rate_hz"]))

    def put_pcm(self, key: str, pcm: Pcm) -> None:
        if not self._enabled:
            return
        path = self._path(key, ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, samples=pcm.samples, rate_hz=np.int64(pcm.rate_hz))
        Path(tmp).replace(path)
