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

__all__ = [
    "EventBus",
    "LocalEventBus",
    "RedisEventBus",
    "Subscription",
    "build_event_bus",
    "channel",
]

Event = dict[str, Any]


def channel(dub_id: str) -> str:
    return f"gv:dub:{dub_id}"


class Subscription(Protocol):
    """Events published after the subscription was opened, in order, until it is closed."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def aclose(self) -> None: ...


class EventBus(Protocol):
    def publish(self, dub_id: str, event: Event) -> None: ...

    async def subscribe(self, dub_id: str) -> Subscription:
        """Returns once the subscription is live: nothing published afterwards is missed."""
        ...

    async def aclose(self) -> None: ...


class _LocalSubscription:
    def __init__(self, bus: "LocalEventBus", dub_id: str) -> None:
        self._bus, self._dub_id = bus, dub_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    async def aclose(self) -> None:
        self._bus.forget(self._dub_id, self)


class LocalEventBus:
    """In-process fan-out; safe to publish from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[_LocalSubscription]] = {}

    def publish(self, dub_id: str, event: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.get(dub_id, ()))
        for sub in targets:
            with suppress(RuntimeError):  # the subscriber's loop has closed
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, event)

    async def subscribe(self, dub_id: str) -> Subscription:
        sub = _LocalSubscription(self, dub_id)
        with self._lock:
            self._subscribers.setdefault(dub_id, []).append(sub)
        return sub

    def forget(self, dub_id: str, sub: _LocalSubscription) -> None:
        with self._lock:
            subs = self._subscribers.get(dub_id, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._subscribers.pop(dub_id, None)

    async def aclose(self) -> None:
        return None


class _RedisSubscription:
    def __init__(self, pubsub: Any, name: str) -> None:
        self._pubsub, self._name = pubsub, name

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for message in self._pubsub.listen():
            if message.get("type") == "message":
                yield json.loads(message["data"])

    async def aclose(self) -> None:
        with suppress(Exception):  # the connection may already be gone
            await self._pubsub.unsubscribe(self._name)
        await self._pubsub.aclose()


class RedisEventBus:
    def __init__(self, url: str) -> None:
        import redis
        import redis.asyncio

        self._sync = redis.Redis.from_url(url)
        self._async = redis.asyncio.Redis.from_url(url)

    def publish(self, dub_id: str, event: Event) -> None:
        self._sync.publish(channel(dub_id), json.dumps(event))

    async def subscribe(self, dub_id: str) -> Subscription:
        pubsub = self._async.pubsub()
        await pubsub.subscribe(channel(dub_id))  # returns after Redis confirmed it
        return _RedisSubscription(pubsub, channel(dub_id))

    async def aclose(self) -> None:
        self._sync.close()
        await self._async.aclose()


def build_event_bus(redis_url: str | None) -> EventBus:
    return RedisEventBus(redis_url) if redis_url else LocalEventBus()
