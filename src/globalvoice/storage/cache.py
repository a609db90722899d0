"""A content-addressed artifact cache keyed by derivation key: an unchanged input is never
recomputed. It lives in any `BlobStore`: a local directory for the CLI, the bucket for workers.

A payload is written and read through a pydantic `TypeAdapter` of its type (`get_model`,
`put_model`); one that no longer validates (a shape changed without a key version bump, a torn
write) reads as a miss and is recomputed."""

import io
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydantic import TypeAdapter, ValidationError

from globalvoice.domain.audio import Pcm
from globalvoice.storage.blobs import BlobStore, LocalBlobStore
from globalvoice.storage.layout import ARTIFACTS_PREFIX, artifact_key

__all__ = ["ArtifactCache"]

T = TypeVar("T")


class ArtifactCache:
    """Objects at `<prefix><k[:2]>/<k>.json|.npz`; locally `<root>/artifacts/<k[:2]>/<k>...`."""

    def __init__(
        self, store: BlobStore, *, enabled: bool = True, prefix: str = ARTIFACTS_PREFIX
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
        return artifact_key(self._prefix, key, suffix)

    def _count(self, found: T | None) -> T | None:
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def _read(self, key: str, suffix: str) -> bytes | None:
        return self.store.get_bytes(self.object_key(key, suffix)) if self._enabled else None

    def get_model(self, key: str, adapter: TypeAdapter[T]) -> T | None:
        """The payload stored under `key` as `adapter`'s type; None when absent or invalid."""
        data = self._read(key, ".json")
        try:
            found = None if data is None else adapter.validate_json(data)
        except ValidationError:
            found = None
        return self._count(found)

    def put_model(self, key: str, value: T, adapter: TypeAdapter[T]) -> None:
        if self._enabled:
            self.store.put_bytes(
                self.object_key(key, ".json"),
                adapter.dump_json(value),
                content_type="application/json",
            )

    def get_file(self, key: str, suffix: str, path: Path) -> bool:
        """Write the file stored under `key` + `suffix` to `path`; False when absent. Not
        counted as a hit or miss: a file goes with a model entry that is."""
        return self._enabled and self.store.download(self.object_key(key, suffix), path)

    def put_file(self, key: str, suffix: str, path: Path) -> None:
        if self._enabled:
            self.store.put_file(self.object_key(key, suffix), path)

    def get_pcm(self, key: str) -> Pcm | None:
        data = self._read(key, ".npz")
        if data is None:
            return self._count(None)
        with np.load(io.BytesIO(data)) as arrays:
            pcm = Pcm(samples=arrays["samples"].astype(np.float32), rate_hz=int(arrays["rate_hz"]))
        return self._count(pcm)

    def put_pcm(self, key: str, pcm: Pcm) -> None:
        if not self._enabled:
            return
        buffer = io.BytesIO()
        np.savez(buffer, samples=pcm.samples, rate_hz=np.int64(pcm.rate_hz))
        self.store.put_bytes(self.object_key(key, ".npz"), buffer.getvalue())
