"""A content-addressed artifact cache keyed by derivation key: an unchanged input is never
recomputed. It lives in any `BlobStore`: a local directory for the CLI, the bucket for workers."""

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.storage.blobs import BlobStore, LocalBlobStore

__all__ = ["ArtifactCache"]


class ArtifactCache:
    """Objects at `<prefix><k[:2]>/<k>.json|.npz`; locally `<root>/artifacts/<k[:2]>/<k>...`."""

    def __init__(
        self, store: BlobStore, *, enabled: bool = True, prefix: str = "artifacts/"
    ) -> None:
        self.store = store
        self._prefix = prefix
        self._enabled = enabled
        self.hits = 0
        self.misses = 0

    @classmethod
    def local(cls, root: Path, *, enabled: bool = True) -> "ArtifactCache":
        """The CLI's cache: files under `root/artifacts`."""
        return cls(LocalBlobStore(root), enabled=enabled)

    def object_key(self, key: str, suffix: str) -> str:
        """The object key of derivation key `key` (suffix '.json' or '.npz')."""
        return f"{self._prefix}{key[:2]}/{key}{suffix}"

    def _get(self, key: str, suffix: str) -> bytes | None:
        data = self.store.get_bytes(self.object_key(key, suffix)) if self._enabled else None
        if data is None:
            self.misses += 1
        else:
            self.hits += 1
        return data

    def get_json(self, key: str) -> Any | None:
        data = self._get(key, ".json")
        return None if data is None else json.loads(data)

    def put_json(self, key: str, value: Any) -> None:
        if self._enabled:
            data = json.dumps(value).encode()
            self.store.put_bytes(
                self.object_key(key, ".json"), data, content_type="application/json"
            )

    def get_pcm(self, key: str) -> Pcm | None:
        data = self._get(key, ".npz")
        if data is None:
            return None
        with np.load(io.BytesIO(data)) as arrays:
            return Pcm(samples=arrays["samples"].astype(np.float32), rate_hz=int(arrays["rate_hz"]))

    def put_pcm(self, key: str, pcm: Pcm) -> None:
        if not self._enabled:
            return
        buffer = io.BytesIO()
        np.savez(buffer, samples=pcm.samples, rate_hz=np.int64(pcm.rate_hz))
        self.store.put_bytes(self.object_key(key, ".npz"), buffer.getvalue())
