"""/v1/dubs: create (202, idempotent), read, list, cancel, delete."""

import logging
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from starlette.concurrency import run_in_threadpool

from globalvoice.api import dubbing
from globalvoice.api.context import ApiContext
from globalvoice.api.deps import ContextDep, TenantDep
from globalvoice.api.errors import LaunchFailed
from globalvoice.api.glossary_schemas import to_entries
from globalvoice.api.schemas import DubCreate, DubOut, DubPage
from globalvoice.api.views import dub_out
from globalvoice.domain.errors import NotFound
from globalvoice.dubbing.request import DubOptions
from globalvoice.orchestration.jobs import DubJob
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import TERMINAL_STATUSES, Dub, Upload

__all__ = ["find_dub", "router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/dubs", tags=["dubs"])


def find_dub(ctx: ApiContext, tenant_id: str, dub_id: str) -> DubOut:
    """The tenant's dub with its artifacts; another tenant's id reads as missing (404)."""
    with ctx.sessions.begin() as session:
        dub = repo.get_dub(session, tenant_id, dub_id)
        if dub is None:
            raise NotFound(f"No dub {dub_id}.")
        artifacts = repo.list_artifacts(session, tenant_id, dub_id)
    return dub_out(dub, artifacts, ctx.settings.public_url)


def _job(dub: Dub, upload: Upload, options: DubOptions) -> DubJob:
    """The job for a new dub, with the options as the request validated them."""
    return DubJob(
        dub_id=dub.id,
        tenant_id=dub.tenant_id,
        upload_key=upload.object_key,
        filename=upload.filename,
        targets=list(dub.target_languages),
        source=dub.source_language,
        options=options,
        glossary=list(dub.glossary or []),
    )


def _forget(ctx: ApiContext, tenant_id: str, dub_id: str) -> None:
    with ctx.sessions.begin() as session:
        repo.delete_dub(session, tenant_id, dub_id)


@router.post(
    "",
    status_code=202,
    summary="Dub an upload into one or more languages",
    responses={200: {"model": DubOut, "description": "replayed: the dub this key made before"}},
)
async def create_dub(
    body: DubCreate,
    ctx: ContextDep,
    tenant: TenantDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> DubOut:
    """Checks the upload is real media with audio and the languages are supported, then starts.

    `voices` ({"S1": "voc_..."}) speaks those speakers with library voices: recorded as the
    dub's voice assignments (as `PUT /v1/dubs/{id}/speakers/{speaker}/voice` does) and applied
    when the source is analysed; every other speaker is matched to the tenant's library (same
    voice as before) or added to it. The dub's `speakers` show each one's voice and how it was
    chosen once the analysis is done.

    With an `Idempotency-Key`, repeating the same request returns the same dub (200) and
    starts nothing; reusing the key for a different request is a 409.
    """
    request = dubbing.DubRequest(
        upload_id=body.upload_id,
        targets=list(dict.fromkeys(body.target_languages)),
        source=body.source_language,
        options=body.options,
        idempotency_key=idempotency_key,
        voices=body.voices,
        glossary=to_entries(body.glossary),
    )
    dub, upload, created = await run_in_threadpool(dubbing.create_dub, ctx, tenant, request)
    if not created:
        response.status_code = 200
        return await run_in_threadpool(find_dub, ctx, tenant, dub.id)
    try:
        await ctx.launcher.start(_job(dub, upload, body.options))
    except Exception as err:
        log.exception("could not start dub %s", dub.id)
        with suppress(Exception):
            await ctx.launcher.cancel(dub.id)
        await run_in_threadpool(_forget, ctx, tenant, dub.id)
        raise LaunchFailed("The dub could not be started; try again shortly.") from err
    return dub_out(dub, [], ctx.settings.public_url)


@router.get("", summary="The tenant's dubs, newest first")
def list_dubs(
    ctx: ContextDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=repo.MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> DubPage:
    with ctx.sessions.begin() as session:
        rows, next_cursor = repo.list_dubs(session, tenant, limit=limit, cursor=cursor)
        dubs = [
            dub_out(d, repo.list_artifacts(session, tenant, d.id), ctx.settings.public_url)
            for d in rows
        ]
    return DubPage(dubs=dubs, next_cursor=next_cursor, has_more=next_cursor is not None)


@router.get("/{dub_id}", summary="A dub: status, progress, error and downloads")
def get_dub(dub_id: str, ctx: ContextDep, tenant: TenantDep) -> DubOut:
    return find_dub(ctx, tenant, dub_id)


@router.post("/{dub_id}/cancel", status_code=202, summary="Stop a dub (no-op once finished)")
async def cancel_dub(dub_id: str, ctx: ContextDep, tenant: TenantDep) -> DubOut:
    dub = await run_in_threadpool(find_dub, ctx, tenant, dub_id)
    if dub.status not in TERMINAL_STATUSES:
        await ctx.launcher.cancel(dub_id)
    return dub


def _delete(ctx: ApiContext, tenant_id: str, dub_id: str) -> None:
    """Objects first (a failure leaves the dub to delete again), then rows, then stragglers."""
    ctx.store.delete_prefix(repo.dub_prefix(tenant_id, dub_id))
    with ctx.sessions.begin() as session:
        prefixes = repo.delete_dub(session, tenant_id, dub_id) or []
    for prefix in prefixes:
        ctx.store.delete_prefix(prefix)


@router.delete("/{dub_id}", status_code=204, summary="Cancel a dub and delete it and its files")
async def delete_dub(dub_id: str, ctx: ContextDep, tenant: TenantDep) -> Response:
    dub = await run_in_threadpool(find_dub, ctx, tenant, dub_id)
    if dub.status not in TERMINAL_STATUSES:
        await ctx.launcher.cancel(dub_id)
    await run_in_threadpool(_delete, ctx, tenant, dub_id)
    return Response(status_code=204)
