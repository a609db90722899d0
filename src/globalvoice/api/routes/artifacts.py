"""/v1/dubs/{id}/artifacts/{language}/{kind}: download an output (redirect or stream)."""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from globalvoice.api import uploading
from globalvoice.api.context import ApiContext
from globalvoice.api.deps import ContextDep, TenantDep
from globalvoice.api.schemas import ARTIFACT_KINDS
from globalvoice.domain.errors import NotFound
from globalvoice.storage.db import repo

__all__ = ["router"]

router = APIRouter(prefix="/v1/dubs", tags=["dubs"])


@router.get(
    "/{dub_id}/artifacts/{language}/{kind}",
    summary="Download an output file",
    response_class=Response,
    responses={
        200: {"description": "the file", "content": {"application/octet-stream": {}}},
        307: {"description": "redirect to a presigned storage URL"},
    },
)
def download_artifact(
    dub_id: str, language: str, kind: str, ctx: ContextDep, tenant: TenantDep
) -> Response:
    """`kind`: video, audio, speech_stem, subtitles_srt, subtitles_vtt, transcript, translation
    or manifest (language `all`). The source language has its subtitles and transcript."""
    missing = NotFound(f"Dub {dub_id} has no {kind} for language {language}.")
    if kind not in ARTIFACT_KINDS:
        raise missing
    with ctx.sessions.begin() as session:
        if repo.get_dub(session, tenant, dub_id) is None:
            raise NotFound(f"No dub {dub_id}.")
        found = [
            a
            for a in repo.list_artifacts(session, tenant, dub_id)
            if a.language == language and a.kind == kind
        ]
    if not found:
        raise missing
    artifact = found[0]
    filename = artifact.object_key.rsplit("/", 1)[-1]
    expires_s = ctx.settings.presign_expires_s
    url = ctx.store.presign_get(artifact.object_key, expires_s, filename)
    if url is not None:
        return RedirectResponse(url, status_code=307)
    local = ctx.store.local_path(artifact.object_key)
    if local is not None:
        if not local.is_file():
            raise missing
        return FileResponse(local, media_type=artifact.content_type, headers=_attachment(filename))
    return _download_and_send(ctx, artifact.object_key, artifact.content_type, filename, missing)


def _download_and_send(
    ctx: ApiContext, key: str, content_type: str, filename: str, missing: NotFound
) -> Response:
    """A store that neither presigns nor keeps files locally: send a temporary copy."""
    work = Path(tempfile.mkdtemp(dir=uploading.scratch_root(ctx), prefix="get-"))
    path = work / "body"
    if not ctx.store.download(key, path):
        shutil.rmtree(work, ignore_errors=True)
        raise missing
    cleanup = BackgroundTask(shutil.rmtree, work, ignore_errors=True)
    return FileResponse(
        path, media_type=content_type, headers=_attachment(filename), background=cleanup
    )


def _attachment(filename: str) -> dict[str, str]:
    """Content-Disposition (RFC 6266) for `filename`: a quoted ASCII name, plus the exact name
    as UTF-8 (RFC 5987 `filename*`) when it has other characters."""
    fallback = "".join(
        char if char.isascii() and char.isprintable() and char not in '"\\' else "_"
        for char in filename
    )
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return {"Content-Disposition": value}
