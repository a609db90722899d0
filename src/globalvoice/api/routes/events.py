"""/v1/dubs/{id}/events: Server-Sent Events while a dub runs."""

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from globalvoice.api.deps import ContextDep, TenantDep
from globalvoice.api.routes.dubs import find_dub
from globalvoice.api.sse import dub_event_stream

__all__ = ["router"]

router = APIRouter(prefix="/v1/dubs", tags=["dubs"])

_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "`snapshot` (the dub, as GET /v1/dubs/{id}), then `progress` "
            "({stage, language, done, total}) and `status` ({status, ...}) events; the stream "
            "ends after a succeeded, failed or cancelled status. Comments every 15 s keep it open."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{dub_id}/events",
    summary="Live progress as Server-Sent Events",
    response_class=StreamingResponse,
    responses=_EVENT_STREAM,
)
async def dub_events(dub_id: str, ctx: ContextDep, tenant: TenantDep) -> StreamingResponse:
    await run_in_threadpool(find_dub, ctx, tenant, dub_id)  # 404 before the stream starts
    stream = dub_event_stream(
        ctx.events, dub_id, partial(find_dub, ctx, tenant, dub_id), keepalive_s=ctx.keepalive_s
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
