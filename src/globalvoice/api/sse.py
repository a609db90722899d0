"""A dub's live events as Server-Sent Events: snapshot first, then live, until it finishes."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any

from starlette.concurrency import run_in_threadpool

from globalvoice.api.schemas import DubOut
from globalvoice.domain.errors import NotFound
from globalvoice.storage.db.models import TERMINAL_STATUSES
from globalvoice.storage.events import EventBus, Subscription

__all__ = ["dub_event_stream", "format_event"]

log = logging.getLogger(__name__)
Event = dict[str, Any]


def format_event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


def _finished(event: Event) -> bool:
    return event.get("type") == "status" and event.get("status") in TERMINAL_STATUSES


async def _pump(source: Subscription, queue: asyncio.Queue[Event]) -> None:
    async for event in source:
        queue.put_nowait(event)


async def dub_event_stream(
    events: EventBus,
    dub_id: str,
    snapshot: Callable[[], DubOut],
    *,
    keepalive_s: float,
) -> AsyncIterator[str]:
    """Subscribe, then send the database snapshot, then each live event.

    Ends after a terminal status event. Every `keepalive_s` without events it sends a comment
    and re-reads the database, so a terminal status published before the subscription took
    hold (or lost by the bus) still ends the stream, with a last snapshot.
    """
    queue: asyncio.Queue[Event] = asyncio.Queue()
    subscription = await events.subscribe(dub_id)  # live before the snapshot is read
    pump = asyncio.create_task(_pump(subscription, queue))
    try:
        current = await run_in_threadpool(snapshot)
        yield format_event("snapshot", current.model_dump(mode="json"))
        while current.status not in TERMINAL_STATUSES:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=keepalive_s)
            except TimeoutError:
                if pump.done():  # the bus stopped: end rather than spin
                    return
                yield ": keep-alive\n\n"
                try:
                    current = await run_in_threadpool(snapshot)
                except NotFound:  # deleted meanwhile
                    return
                if current.status in TERMINAL_STATUSES:
                    yield format_event("snapshot", current.model_dump(mode="json"))
                continue
            yield format_event(str(event.get("type", "message")), event)
            if _finished(event):
                return
    finally:
        pump.cancel()
        await asyncio.wait([pump])
        await subscription.aclose()
        if not pump.cancelled() and (error := pump.exception()) is not None:
            log.warning("event subscription for %s failed: %r", dub_id, error)
        aclose = getattr(subscription, "aclose", None)
        if aclose is not None:
            with suppress(Exception):
                await aclose()
