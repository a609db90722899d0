"""Blob stores: a local directory (embedded) or an S3-compatible bucket, behind one protocol.

Keys are '/'-separated relative names (see `keys.validate_key`); a prefix matches keys by their
leading characters, as in S3, so pass folder prefixes with a trailing '/'.
"""

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from globalvoice.config.settings import StorageSettings
from globalvoice.storage.files import atomic_writer
from globalvoice.storage.keys import validate_key, validate_prefix

if TYPE_CHECKING:  # boto3 is the 'service' extra: the CLI's local cache must not need it
    from globalvoice.storage.s3 import S3BlobStore

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "build_blob_store",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class BlobStore(Protocol):
    def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        """Store `data` under `key`, replacing any previous object."""
        ...

    def put_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        """Store the file at `path` under `key` (large files stream, in parts where supported)."""
        ...

    def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    def download(self, key: str, path: Path) -> bool:
        """Write the object to `path` (atomically); False when there is no such object."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with `prefix` (which must not be empty); return how many."""
        ...

    def presign_put(self, key: str, expires_s: int, content_type: str) -> str | None:
        """A URL a client can PUT the bytes to (with this Content-Type); None: cannot presign."""
        ...

    def presign_get(self, key: str, expires_s: int, filename: str) -> str | None:
        """A URL that downloads the object as `filename`; None: the store cannot presign."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Where the object lives on this machine (it may not exist yet); None for remote stores."""
        ...


class LocalBlobStore:
    """Objects as files under `root`; writes go to a temporary file and are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    # A local store keeps no content type: the database row that names an object records it.
    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = DEFAULT_CONTENT_TYPE,  # noqa: ARG002
    ) -> None:
        with atomic_writer(self._path(key)) as handle:
            handle.write(data)

    def put_file(
        self,
        key: str,
        path: Path,
        content_type: str = DEFAULT_CONTENT_TYPE,  # noqa: ARG002
    ) -> None:
        target = self._path(key)
        with path.open("rb") as source, atomic_writer(target) as handle:
            shutil.copyfileobj(source, handle, 1 << 20)

    def get_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def download(self, key: str, path: Path) -> bool:
        source = self._path(key)
        if not source.is_file():
            return False
        try:
            with source.open("rb") as reader, atomic_writer(path) as handle:
                shutil.copyfileobj(reader, handle, 1 << 20)
        except FileNotFoundError:  # deleted meanwhile
            return False
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def list_keys(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        keys: list[str] = []
        for directory, dirnames, filenames in os.walk(folder):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            relative = Path(directory).relative_to(self.root).as_posix()
            base = "" if relative == "." else f"{relative}/"
            keys += [
                base + name
                for name in filenames
                if not name.startswith(".") and (base + name).startswith(prefix)
            ]
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        if not validate_prefix(prefix):
            raise ValueError("refusing to delete every object: the prefix is empty")
        deleted = 0
        for key in self.list_keys(prefix):
            path = self.root / key
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted += 1
            self._prune(path.parent)
        return deleted

    def _prune(self, folder: Path) -> None:
        """Remove now-empty folders up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                return
            folder = folder.parent

    def presign_put(self, key: str, expires_s: int, content_type: str) -> str | None:  # noqa: ARG002
        """None: the API accepts the bytes itself."""
        validate_key(key)
        return None

    def presign_get(self, key: str, expires_s: int, filename: str) -> str | None:  # noqa: ARG002
        """None: the API serves the file itself (`local_path`)."""
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def build_blob_store(storage: StorageSettings, data_dir: Path) -> BlobStore:
    """The store the settings name: `local_dir` (default `<data_dir>/objects`) or the S3 bucket."""
    if storage.kind == "local":
        return LocalBlobStore(storage.local_dir or data_dir / "objects")
    from globalvoice.storage.s3 import S3BlobStore

    return S3BlobStore(storage)


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from globalvoice.storage.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
