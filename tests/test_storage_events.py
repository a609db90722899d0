"""Live events: the in-process bus and Redis pub/sub (a real Redis on loopback)."""

import asyncio
import threading
import uuid

import pytest

from globalvoice.storage.events import EventBus, LocalEventBus, RedisEventBus

REDIS_URL = "redis://127.0.0.1:6379/0"


def _bus(kind: str) -> EventBus:
    return LocalEventBus() if kind == "local" else RedisEventBus(REDIS_URL)


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_events_published_from_a_thread_arrive_in_order(kind: str) -> None:
    dub_id = f"dub_{uuid.uuid4().hex}"

    async def scenario() -> list[int]:
        bus = _bus(kind)
        other = await bus.subscribe(f"{dub_id}-other")
        subscription = await bus.subscribe(dub_id)  # live now: nothing after this is missed

        def publish() -> None:
            for n in range(20):
                bus.publish(dub_id, {"n": n})
            bus.publish(f"{dub_id}-other", {"n": -1})

        thread = threading.Thread(target=publish)
        thread.start()
        received: list[int] = []
        async for event in subscription:
            received.append(event["n"])
            if len(received) == 20:
                break
        thread.join()
        await subscription.aclose()
        await other.aclose()
        await bus.aclose()
        return received

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == list(range(20))


def test_closed_local_subscription_is_forgotten() -> None:
    async def scenario() -> None:
        bus = LocalEventBus()
        subscription = await bus.subscribe("dub_x")
        await subscription.aclose()
        bus.publish("dub_x", {"n": 1})  # no subscriber left: nothing queued anywhere
        assert bus._subscribers == {}

    asyncio.run(scenario())
