"""`globalvoice languages` and `globalvoice doctor`."""

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from globalvoice.config.settings import Settings
from globalvoice.domain.errors import GlobalVoiceError
from globalvoice.domain.language import language_name
from globalvoice.domain.voices import VoiceBlend
from globalvoice.engines import registry

if TYPE_CHECKING:
    from globalvoice.pipeline.voices.bank import VoiceBank

__all__ = ["run_doctor", "show_languages"]

_MIN_FREE_BYTES = 2 * 1024**3


def show_languages(console: Console) -> None:
    settings = Settings()
    with console.status("Loading engines..."):
        stt, mt, tts = (
            registry.build_stt(settings),
            registry.build_mt(settings),
            registry.build_tts(settings),
        )
    voiced = set(tts.languages())
    offline = settings.mt.kind == "mt.embedded"
    table = Table(title="Supported dubbing pairs" + (" (offline)" if offline else ""))
    for column in ("from", "to", "translation route"):
        table.add_column(column)
    for source, target in sorted(mt.pairs()):
        if target in voiced:
            table.add_row(
                f"{source} {language_name(source)}",
                f"{target} {language_name(target)}",
                mt.route(source, target),
            )
    console.print(table)
    engines = Table(title="Engines")
    for column in ("step", "engine", "model", "licence", "commercial use"):
        engines.add_column(column)
    for step, engine in (("speech-to-text", stt), ("translation", mt), ("voice", tts)):
        info = engine.info
        commercial = "yes" if info.is_commercial_use_ok else "[red]NO (non-commercial)[/]"
        engines.add_row(step, info.name, info.model_id, info.licence, commercial)
    console.print(engines)
    console.print(
        f"Transcription recognises {len(stt.supported_languages())} languages; "
        f"voices speak: {', '.join(sorted(voiced))}."
    )


def run_doctor(console: Console) -> bool:
    """Print one line per check; return True when everything needed for a dub is in place."""
    settings = Settings()
    is_ok = True

    def check(name: str, action: object) -> None:
        nonlocal is_ok
        try:
            detail = action() if callable(action) else action
            console.print(f"[green]ok[/]   {name}: {detail}")
        except GlobalVoiceError as err:
            is_ok = False
            console.print(f"[red]FAIL[/] {name}: {err.user_message}")

    from globalvoice.media.ffmpeg import ffmpeg_exe

    check("ffmpeg", ffmpeg_exe)
    check("speech-to-text", lambda: registry.build_stt(settings).info.model_id)
    check("translation", lambda: _describe_mt(settings))
    check("voices", lambda: registry.build_tts(settings).info.model_id)
    check("voice bank", lambda: _describe_bank(settings))
    if settings.pipeline.separation != "off":
        check("separation", lambda: _describe_separator(settings))
    if settings.pipeline.lipsync != "off":
        check("lip-sync", lambda: _describe_lipsync(settings))
        check("face tracking", lambda: registry.build_face_mesh(1).info.model_id)
    if settings.mt.kind == "mt.embedded" and shutil.which("apertium") is None:
        is_ok = False
        console.print(
            "[red]FAIL[/] apertium: not installed; run scripts/install.sh "
            "(Debian packages apertium and its pairs)"
        )
    cache = settings.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache if cache.exists() else Path.home()).free
    if free < _MIN_FREE_BYTES:
        is_ok = False
        console.print(f"[red]FAIL[/] disk: {free / 1024**3:.1f} GiB free at {cache}; free 2 GiB")
    else:
        console.print(f"[green]ok[/]   disk: {free / 1024**3:.1f} GiB free at {cache}")
    return is_ok


def _describe_separator(settings: Settings) -> str:
    info = registry.build_separator(settings).info
    return f"{info.name} {info.model_id} ({info.licence})"


def _describe_lipsync(settings: Settings) -> str:
    info = registry.build_lipsync(settings.lipsync).info
    note = "" if info.is_commercial_use_ok else " [yellow]non-commercial licence[/]"
    return f"{info.name} {info.model_id} ({info.licence}){note}"


def _voice_bank(settings: Settings) -> "VoiceBank":
    from globalvoice.dubbing.engines import voice_store
    from globalvoice.pipeline.voices.bank import VoiceBank

    return VoiceBank(registry.build_tts(settings), None, voice_store(settings))


def _describe_bank(settings: Settings) -> str:
    bank = _voice_bank(settings)
    ready, total = bank.stored(), len(bank.tts.voices())
    if ready == total:
        return f"{ready}/{total} shipped voices' reference takes ready"
    return (
        f"{ready}/{total} shipped voices' reference takes ready; the first dub with voice "
        "matching makes the rest, or run `globalvoice prepare`"
    )


def run_prepare(console: Console) -> None:
    """Make what the first dub would otherwise make: the voice bank's reference takes."""
    bank = _voice_bank(Settings())
    with console.status("Reading the shipped voices' reference sentences..."):
        bank.prepare([VoiceBlend.single(name) for name in bank.tts.voices()])
    console.print(f"[green]ok[/]   voice bank: {bank.stored()}/{len(bank.tts.voices())} ready")


def _describe_mt(settings: Settings) -> str:
    mt = registry.build_mt(settings)
    info, pairs = mt.info, len(mt.pairs())
    note = "" if info.is_commercial_use_ok else " [yellow]non-commercial licence[/]"
    return f"{info.name} {info.model_id}, {pairs} pairs, licence: {info.licence}{note}"
