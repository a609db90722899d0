"""`globalvoice voices`: the voice library from the command line.

By default the embedded library (SQLite in the service data_dir, tenant "local", the voices of
`globalvoice dub`); with GV_SERVICE__VOICE_INDEX_URL set, the service's pgvector library, where
--tenant names the tenant id (`globalvoice keys create` prints it).
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from globalvoice.domain.errors import ConfigError, NotFound, UserFacingError

if TYPE_CHECKING:  # SQLAlchemy is the 'service' extra: imported when a command runs
    from globalvoice.storage.voices import VoiceLibrary

__all__ = ["voices_app"]

voices_app = typer.Typer(
    no_args_is_help=True, help="The voice library: list, rename, merge, delete."
)
_out = Console(soft_wrap=True)
TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="tenant id (service library); default: the local library's"),
]


@contextmanager
def _library(tenant: str | None) -> Iterator[tuple["VoiceLibrary", str]]:
    try:
        from globalvoice.config.settings import Settings
        from globalvoice.storage.voices import LOCAL_TENANT, build_voice_library
    except ImportError as err:
        raise ConfigError(
            "The voice library needs the service packages: pip install 'globalvoice[service]'."
        ) from err
    settings = Settings()
    if settings.service.voice_index_url and tenant is None:
        raise UserFacingError("Give --tenant: the voice library is the service's (pgvector).")
    settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    library = build_voice_library(settings.service)
    try:
        yield library, tenant or LOCAL_TENANT
    finally:
        library.close()


@voices_app.command("list")
def list_voices(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per voice")] = False,
) -> None:
    """Every voice, newest first: id, name, videos it spoke in, created."""
    with _library(tenant) as (library, tenant_id):
        records, cursor = library.list(tenant_id, limit=100)
        while cursor is not None:
            page, cursor = library.list(tenant_id, limit=100, cursor=cursor)
            records += page
    if as_json:
        for r in records:
            row = {"id": r.id, "name": r.name, "n_videos": r.n_videos, "dims": r.dims}
            print(json.dumps({**row, "created_at": r.created_at.isoformat()}))  # noqa: T201
        return
    table = Table("id", "name", "videos", "created")
    for r in records:
        table.add_row(r.id, r.name, str(r.n_videos), f"{r.created_at:%Y-%m-%d %H:%M}")
    _out.print(table if records else "no voices yet")


@voices_app.command()
def rename(voice_id: str, name: str, tenant: TenantOption = None) -> None:
    """Give a voice a new name."""
    with _library(tenant) as (library, tenant_id):
        if library.rename(tenant_id, voice_id, name) is None:
            raise NotFound(f"No voice {voice_id}.")
    _out.print(f"{voice_id} is now {name!r}")


@voices_app.command()
def merge(keep_id: str, absorb_id: str, tenant: TenantOption = None) -> None:
    """Fold ABSORB_ID into KEEP_ID (the same person); ABSORB_ID is deleted."""
    if keep_id == absorb_id:
        raise UserFacingError("A voice cannot be merged into itself.")
    with _library(tenant) as (library, tenant_id):
        for voice_id in (keep_id, absorb_id):
            if library.get(tenant_id, voice_id) is None:
                raise NotFound(f"No voice {voice_id}.")
        library.merge(tenant_id, keep_id, absorb_id)
    _out.print(f"merged {absorb_id} into {keep_id}")


@voices_app.command()
def delete(
    voice_id: str,
    tenant: TenantOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Delete a voice: its embedding, profile and reference audio (no undo)."""
    with _library(tenant) as (library, tenant_id):
        record = library.get(tenant_id, voice_id)
        if record is None:
            raise NotFound(f"No voice {voice_id}.")
        if not yes:
            typer.confirm(f"Delete voice {voice_id} ({record.name})?", abort=True)
        library.delete(tenant_id, voice_id)
    _out.print(f"deleted {voice_id}")
