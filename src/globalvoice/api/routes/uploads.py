"""/v1/uploads: announce a file and PUT it (presigned or through the API), or post it at once."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from globalvoice.api import uploading
from globalvoice.api.context import ApiContext
from globalvoice.api.deps import ContextDep, TenantDep
from globalvoice.api.errors import Conflict, LengthRequired, PayloadTooLarge
from globalvoice.api.schemas import Filename, UploadCreate, UploadOut, UploadTicket
from globalvoice.api.views import upload_out
from globalvoice.domain.errors import UserFacingError
from globalvoice.storage.db import repo

__all__ = ["router"]

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

_FILENAME: TypeAdapter[str] = TypeAdapter(Filename)
_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")
_MULTIPART_OVERHEAD = 16 << 10  # boundaries and part headers around the file
_BINARY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise UserFacingError("Content-Length must be a number of bytes.")
    return int(value)


@router.post("", status_code=201, summary="Announce an upload; PUT the file to upload_url")
def create_upload(body: UploadCreate, ctx: ContextDep, tenant: TenantDep) -> UploadTicket:
    settings = ctx.settings
    if body.size_bytes > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"{body.filename} is {body.size_bytes} bytes; the limit is "
            f"{settings.max_upload_bytes} bytes."
        )
    with ctx.sessions.begin() as session:
        upload = repo.create_upload(
            session,
            tenant,
            filename=body.filename,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
        )
    expires_s = settings.presign_expires_s
    presigned = ctx.store.presign_put(upload.object_key, expires_s, body.content_type)
    return UploadTicket(
        **upload_out(upload).model_dump(),
        upload_url=presigned or f"{settings.public_url.rstrip('/')}/v1/uploads/{upload.id}/content",
        headers={"Content-Type": body.content_type},
        send_api_key=presigned is None,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_s) if presigned else None,
    )


@router.put("/{upload_id}/content", summary="Send an upload's bytes", openapi_extra=_BINARY_BODY)
async def put_content(
    upload_id: str, request: Request, ctx: ContextDep, tenant: TenantDep
) -> UploadOut:
    """Streams the body to storage; exactly the announced number of bytes, within the limit."""
    upload = await run_in_threadpool(uploading.find_upload, ctx, tenant, upload_id)
    if upload.status == "stored":
        raise Conflict(f"Upload {upload_id} already has its content; create a new upload.")
    limit = min(upload.size_bytes, ctx.settings.max_upload_bytes)
    what = f"{upload.filename} (announced as {upload.size_bytes} bytes)"
    length = _content_length(request)
    if length is not None and length > limit:
        raise PayloadTooLarge(f"{what} is larger than {limit} bytes.")
    with uploading.scratch_file(ctx, "put-") as path:
        size = await uploading.receive(request.stream(), path, limit=limit, what=what)
        if size != upload.size_bytes:
            raise UserFacingError(
                f"Received {size} bytes for {upload.filename}, announced {upload.size_bytes}: "
                "send the whole file."
            )
        upload = await run_in_threadpool(uploading.store_upload, ctx, upload, path)
    return upload_out(upload)


@router.post(
    "/multipart",
    status_code=201,
    summary="Upload a small file in one multipart/form-data request (field `file`)",
    openapi_extra=_MULTIPART_BODY,
)
async def upload_multipart(request: Request, ctx: ContextDep, tenant: TenantDep) -> UploadOut:
    limit = ctx.settings.max_multipart_bytes
    length = _content_length(request)
    if length is None:
        raise LengthRequired("Send a Content-Length header with multipart uploads.")
    if length > limit + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge(
            f"The request is {length} bytes; files sent this way may be {limit} bytes. "
            "Use POST /v1/uploads for larger files."
        )
    async with request.form(max_files=1, max_fields=1) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise UserFacingError("Send the media file in the form field `file`.")
        size = file.size or 0
        if size > limit:
            raise PayloadTooLarge(f"The file is {size} bytes; the limit here is {limit} bytes.")
        if size == 0:
            raise UserFacingError("The file is empty (0 bytes).")
        return await run_in_threadpool(_store_form_file, ctx, tenant, file, size)


def _store_form_file(ctx: ApiContext, tenant: str, file: UploadFile, size: int) -> UploadOut:
    name = _filename(file.filename)
    with uploading.scratch_file(ctx, "form-") as path:
        with path.open("wb") as handle:
            file.file.seek(0)
            while chunk := file.file.read(1 << 20):
                handle.write(chunk)
        with ctx.sessions.begin() as session:
            upload = repo.create_upload(
                session,
                tenant,
                filename=name,
                content_type=_content_type(file.content_type),
                size_bytes=size,
            )
        return upload_out(uploading.store_upload(ctx, upload, path))


def _filename(raw: str | None) -> str:
    try:
        return _FILENAME.validate_python(raw or "upload")
    except ValidationError:
        return "upload"


def _content_type(raw: str | None) -> str:
    if raw and len(raw) <= 127 and _CONTENT_TYPE.fullmatch(raw):
        return raw
    return "application/octet-stream"


@router.get("/{upload_id}", summary="An upload and whether its content has arrived")
def get_upload(upload_id: str, ctx: ContextDep, tenant: TenantDep) -> UploadOut:
    return upload_out(uploading.find_upload(ctx, tenant, upload_id))
