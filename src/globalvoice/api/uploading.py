"""Uploads: finding them for a tenant, receiving their bytes, storing them."""

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from globalvoice.api.context import ApiContext
from globalvoice.api.errors import Conflict, PayloadTooLarge
from globalvoice.domain.errors import NotFound
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import Upload

__all__ = [
    "find_upload",
    "receive",
    "scratch_file",
    "scratch_root",
    "store_upload",
    "stored_upload",
]


def scratch_root(ctx: ApiContext) -> Path:
    """Where request bodies and downloads wait: `<data_dir>/tmp` (on disk, not in memory)."""
    root = ctx.settings.data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def scratch_file(ctx: ApiContext, prefix: str) -> Iterator[Path]:
    """A path in a fresh temporary folder under `scratch_root`, removed afterwards."""
    with tempfile.TemporaryDirectory(dir=scratch_root(ctx), prefix=prefix) as work:
        yield Path(work) / "body"


def find_upload(ctx: ApiContext, tenant_id: str, upload_id: str) -> Upload:
    """The tenant's upload (NotFound otherwise), marked stored once its object exists.

    With a presigned URL the client sends the bytes to the store directly, so the object
    appearing is how the API learns of it.
    """
    with ctx.sessions.begin() as session:
        upload = repo.get_upload(session, tenant_id, upload_id)
    if upload is None:
        raise NotFound(f"No upload {upload_id}.")
    if upload.status != "stored":
        size = ctx.store.size(upload.object_key)
        if size is not None:
            with ctx.sessions.begin() as session:
                marked = repo.mark_upload_stored(session, tenant_id, upload_id, size_bytes=size)
            upload = marked or upload
    return upload


def stored_upload(ctx: ApiContext, tenant_id: str, upload_id: str) -> Upload:
    upload = find_upload(ctx, tenant_id, upload_id)
    if upload.status != "stored":
        raise Conflict(f"Upload {upload_id} has no content yet: send the file to its upload_url.")
    return upload


async def receive(chunks: AsyncIterator[bytes], path: Path, *, limit: int, what: str) -> int:
    """Write the body to `path`, refusing it (413) as soon as it passes `limit` bytes."""
    size = 0
    async with await anyio.open_file(path, "wb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"{what} is larger than {limit} bytes.")
            await handle.write(chunk)
    return size


def store_upload(ctx: ApiContext, upload: Upload, path: Path) -> Upload:
    """Put the received file in the store and mark the upload stored (blocking)."""
    ctx.store.put_file(upload.object_key, path, content_type=upload.content_type)
    size = path.stat().st_size
    with ctx.sessions.begin() as session:
        marked = repo.mark_upload_stored(session, upload.tenant_id, upload.id, size_bytes=size)
    return marked or upload
