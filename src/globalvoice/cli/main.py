"""`globalvoice` commands. The one place errors become messages and exit codes."""

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from globalvoice.cli.process import limit_malloc_arenas
from globalvoice.domain.errors import ConfigError, GlobalVoiceError, RetryableError
from globalvoice.domain.language import normalize_language

__all__ = ["app", "run"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GlobalVoice: AI video dubbing.")
console = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("globalvoice")
_EXIT = {RetryableError: 75, ConfigError: 78}


def _languages(value: str) -> tuple[str, ...]:
    try:
        codes = tuple(dict.fromkeys(normalize_language(v) for v in value.split(",") if v.strip()))
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    if not codes:
        raise typer.BadParameter("give at least one target language, e.g. --to es,pt")
    return codes


@app.command()
def dub(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="video or audio file")],
    to: Annotated[str, typer.Option("--to", help="target languages, comma-separated: es,pt")],
    source: Annotated[str, typer.Option("--from", help="source language, or auto")] = "auto",
    out: Annotated[Path | None, typer.Option("--out", help="output directory")] = None,
    max_tempo: Annotated[
        float | None, typer.Option(help="speed-up cap per line, 1.0 to 2.0 (default 1.3)")
    ] = None,
    loudness: Annotated[
        float | None, typer.Option(help="target loudness, -40 to -5 LUFS (default -23)")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="recompute everything")] = False,
    separation: Annotated[
        str | None,
        typer.Option(
            "--separation",
            metavar="auto|on|off",
            help="dub over the source's music and effects, its voices removed (on), or duck the "
            "whole source under the dub (off); default auto: separate when the engine can run",
        ),
    ] = None,
    lipsync: Annotated[
        str | None,
        typer.Option(
            "--lipsync",
            metavar="auto|on|off",
            help="redraw the speaking faces' mouths to the dubbed words: auto (default): faces "
            "seen speaking, when the engine can run; on: the best face in view even if not seen "
            "speaking (the engine must load); off: keep the source's picture",
        ),
    ] = None,
    speakers: Annotated[
        int | None,
        typer.Option("--speakers", help="number of speakers, 1 to 20 (default: estimate)"),
    ] = None,
    voice: Annotated[
        list[str] | None,
        typer.Option(
            "--voice",
            metavar="SPEAKER=VOICE_ID",
            help="speak a speaker with a library voice: --voice S1=voc_... (repeatable; "
            "`globalvoice voices list` shows the ids)",
        ),
    ] = None,
    no_library: Annotated[
        bool,
        typer.Option(
            "--no-library",
            help="do not use the voice library: speakers are neither matched to the voices of "
            "earlier dubs nor added to it",
        ),
    ] = False,
    glossary: Annotated[
        Path | None,
        typer.Option(
            "--glossary",
            metavar="FILE",
            help="terms to keep or translate one fixed way: CSV with a header "
            "(term,translation,source_language,target_language,case_sensitive; an empty "
            "translation keeps the term) or a JSON list of such objects",
        ),
    ] = None,
) -> None:
    """Dub INPUT into each target language, offline.

    Each speaker's voice is kept in the local voice library: a speaker heard in an earlier dub
    gets the same voice again, a new one is added (see `globalvoice voices`).

    Inputs longer than GV_LIMITS__MAX_DURATION_S (default 4 h), larger than
    GV_LIMITS__MAX_INPUT_BYTES (20 GiB) or with more than GV_LIMITS__MAX_TARGETS (16) targets
    are refused before any work."""
    from globalvoice.cli.preflight import DubFlags, preflight

    flags = DubFlags(
        input_path=input_path,
        targets=_languages(to),
        source=None if source.strip().lower() == "auto" else _languages(source)[0],
        out_dir=out,
        max_tempo=max_tempo,
        loudness=loudness,
        speakers=speakers,
        separation=separation,
        lipsync=lipsync,
    )
    checked = preflight(flags)  # options, limits, probe: light imports, nothing decoded
    from globalvoice.cli.dub import run_dub

    run_dub(
        checked,
        console=console,
        use_cache=not no_cache,
        voices=voice or (),
        use_library=not no_library,
        glossary=glossary,
    )


@app.command()
def languages() -> None:
    """Source and target languages, pairs, and the engine and licence for each step."""
    from globalvoice.cli.info import show_languages

    show_languages(console)


@app.command()
def doctor() -> None:
    """Check ffmpeg, engine weights, Apertium pairs and free disk; say what to fix."""
    from globalvoice.cli.info import run_doctor

    if not run_doctor(console):
        raise typer.Exit(1)


@app.command()
def prepare() -> None:
    """Prepare what the first dub would otherwise spend time on (the voice bank)."""
    from globalvoice.cli.info import run_prepare

    run_prepare(console)


keys_app = typer.Typer(no_args_is_help=True, help="API keys for the service.")
app.add_typer(keys_app, name="keys")
from globalvoice.cli.voices import voices_app  # noqa: E402

app.add_typer(voices_app, name="voices")


def _pools(value: str) -> tuple[Any, ...]:
    from globalvoice.cli.service import parse_pools

    try:
        return parse_pools(value)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            help="worker pools to run in this process: all, none, or "
            "stt,mt,tts,media,separate,lipsync"
        ),
    ] = None,
) -> None:
    """Run the HTTP API. With no configuration: embedded database, storage, Temporal, workers."""
    from globalvoice.cli.service import run_serve
    from globalvoice.config.settings import Settings

    settings = Settings()
    if host is not None:
        settings.service.host = host
    if port is not None:
        settings.service.port = port
    default = "all" if settings.service.temporal_address is None else "none"
    choice = workers or default
    pools = () if choice == "none" else _pools(choice)
    run_serve(settings, pools=pools, console=console)


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="pools to serve: all, or stt,mt,tts,media,separate,lipsync")
    ] = "all",
) -> None:
    """Run workers for some pools (set GV_SERVICE__TEMPORAL_ADDRESS and the shared stores)."""
    from globalvoice.cli.service import run_worker
    from globalvoice.config.settings import Settings

    run_worker(Settings(), pools=_pools(queues), console=console)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="tenant name (created if new)")],
    name: Annotated[str, typer.Option(help="a label for the key")] = "default",
) -> None:
    """Create an API key for a tenant; the key is shown once and stored only as a hash."""
    from globalvoice.cli.service import create_key
    from globalvoice.config.settings import Settings

    tenant_id, key = create_key(Settings(), tenant=tenant, name=name)
    console.print(f"tenant {tenant_id}: new API key (shown once, keep it secret):")
    print(key)  # noqa: T201 - the key goes to stdout so scripts can capture it


def run() -> None:
    """Console entry point: translate GlobalVoice errors into one line and an exit code."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    limit_malloc_arenas()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # phonemizer re-levels its logger to WARNING on every call (per-line word-count chatter);
    # it keeps its own quiet handler, so only the propagation to ours has to stop
    logging.getLogger("phonemizer").propagate = False
    try:
        app(standalone_mode=False)
    except GlobalVoiceError as err:
        message = escape(err.user_message)  # a file name may hold "[...]", never markup
        console.print(f"[bold red]error[/] ({err.code}): {message}", highlight=False)
        if err.detail and os.environ.get("GV_DEBUG"):
            console.print(err.detail, highlight=False)
        sys.exit(next((code for cls, code in _EXIT.items() if isinstance(err, cls)), 2))
    except ValidationError as err:  # settings from GV_* variables that do not validate
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        console.print(
            f"[bold red]error[/] (config.invalid): invalid settings: {problems}. Check the "
            "GV_* environment variables (see README).",
            highlight=False,
        )
        sys.exit(78)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except (typer.BadParameter, typer.Exit) as err:
        if isinstance(err, typer.Exit):
            sys.exit(err.exit_code)
        console.print(f"[bold red]error[/]: {err}")
        sys.exit(2)
    except Exception as err:  # click's usage errors and anything unexpected
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        log.exception("internal error")
        sys.exit(1)
