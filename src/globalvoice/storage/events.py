"""Live dub events: Redis pub/sub between processes, or an in-process bus when embedded.

Publishing is synchronous (workers publish from activity threads); subscribing is async (the
API streams events as Server-Sent Events).
"""

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any, Protocol

__all__ = ["EventBus", "LocalEventBus", "RedisEventBus", "build_event_bus", "channel"]

Event = dict[str, Any]


def channel(dub_id: str) -> str:
    return f"gv:dub:{dub_id}"


class EventBus(Protocol):
    def publish(self, dub_id: str, event: Event) -> None: ...

    def subscribe(self, dub_id: str) -> AsyncIterator[Event]:
        """Events published after the call, until the consumer stops iterating."""
        ...

    async def aclose(self) -> None: ...


class LocalEventBus:
    """In-process fan-out; safe to publish from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]]]
        self._subscribers = {}

    def publish(self, dub_id: str, event: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.get(dub_id, ()))
        for loop, queue in targets:
            with suppress(RuntimeError):  # the subscriber's loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, event)

    async def subscribe(self, dub_id: str) -> AsyncIterator[Event]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[Event]())
        with self._lock:
            self._subscribers.setdefault(dub_id, []).append(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._subscribers[dub_id].remove(entry)
                if not self._subscribers[dub_id]:
                    del self._subscribers[dub_id]

    async def aclose(self) -> None:
        return None


class RedisEventBus:
    def __init__(self, url: str) -> None:
        import redis
        import redis.asyncio

        self._sync = redis.Redis.from_url(url)
        self._async = redis.asyncio.Redis.from_url(url)

    def publish(self, dub_id: str, event: Event) -> None:
        self._sync.publish(channel(dub_id), json.dumps(event))

    async def subscribe(self, dub_id: str) -> AsyncIterator[Event]:
        pubsub = self._async.pubsub()
        await pubsub.subscribe(channel(dub_id))
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield json.loads(message["data"])
        finally:
            await pubsub.unsubscribe(channel(dub_id))
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        self._sync.close()
        await self._async.aclose()


def build_event_bus(redis_url: str | None) -> EventBus:
    return RedisEventBus(redis_url) if redis_url else LocalEventBus()
