"""`globalvoice serve`, `globalvoice worker` and `globalvoice keys`: the service from the CLI."""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator, Sequence

import uvicorn
from rich.console import Console
from sqlalchemy import select

from globalvoice.api.app import create_app
from globalvoice.api.context import ApiContext, LanguageSupport
from globalvoice.config.settings import Settings
from globalvoice.engines import registry
from globalvoice.orchestration.queues import Pool
from globalvoice.orchestration.runtime import ServiceRuntime, open_runtime
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import Tenant
from globalvoice.storage.db.session import make_engine, migrate, session_factory
from globalvoice.storage.voices import VoiceLibrary, build_voice_library

__all__ = ["create_key", "parse_pools", "run_serve", "run_worker"]


def parse_pools(value: str) -> tuple[Pool, ...]:
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    if names == ["all"]:
        return tuple(Pool)
    unknown = [n for n in names if n not in {p.value for p in Pool}]
    if unknown or not names:
        known = ", ".join(p.value for p in Pool)
        raise ValueError(
            f"unknown queue {', '.join(unknown) or '(none)'}; choose from {known}, all"
        )
    return tuple(Pool(n) for n in dict.fromkeys(names))


def language_support(settings: Settings) -> LanguageSupport:
    return LanguageSupport(
        targets=registry.tts_languages(settings), pairs=registry.build_mt(settings).pairs()
    )


def api_context(
    settings: Settings, rt: ServiceRuntime, voices: VoiceLibrary | None = None
) -> ApiContext:
    return ApiContext(
        settings=settings.service,
        sessions=rt.sessions,
        store=rt.store,
        events=rt.events,
        launcher=rt.launcher,
        languages=language_support(settings),
        voices=voices,
        limits=settings.limits,
    )


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after serving, which would kill this process before
    the runtime shuts down the embedded Temporal server: signals are handled by run_serve."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def _voices(settings: Settings, rt: ServiceRuntime) -> AsyncIterator[VoiceLibrary]:
    """The voice library (pgvector when configured, else SQLite in data_dir), closed after."""
    library = build_voice_library(settings.service, rt.store)
    try:
        yield library
    finally:
        library.close()


def run_serve(settings: Settings, *, pools: Sequence[Pool], console: Console) -> None:
    async def serve() -> None:
        async with open_runtime(settings, pools=pools) as rt, _voices(settings, rt) as voices:
            app = create_app(api_context(settings, rt, voices))
            service = settings.service
            config = uvicorn.Config(app, host=service.host, port=service.port, log_level="info")
            where = "embedded Temporal" if rt.temporal else service.temporal_address
            console.print(
                f"GlobalVoice API on http://{service.host}:{service.port}/v1 "
                f"(docs: /v1/docs); workers: {', '.join(p.value for p in pools) or 'none'}; "
                f"orchestration: {where}; data: {service.data_dir}"
            )
            server = _Server(config)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
            await server.serve()

    asyncio.run(serve())


def run_worker(settings: Settings, *, pools: Sequence[Pool], console: Console) -> None:
    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_runtime(settings, pools=pools, run_migrations=False):
            console.print(f"GlobalVoice worker for {', '.join(p.value for p in pools)}")
            await stop.wait()

    asyncio.run(work())


def create_key(settings: Settings, *, tenant: str, name: str) -> tuple[str, str]:
    """A new tenant (by name, reused if it exists) and a new API key; (tenant id, plaintext)."""
    url = settings.service.sqlalchemy_url()
    settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(url)
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            found = session.scalar(select(Tenant).where(Tenant.name == tenant).limit(1))
            row = found or repo.create_tenant(session, tenant)
            _, plaintext = repo.create_api_key(session, row.id, name)
            return row.id, plaintext
    finally:
        engine.dispose()
