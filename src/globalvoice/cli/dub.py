"""`globalvoice dub`: preflight, build engines, run the local pipeline, print a summary."""

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from globalvoice.cli.progress import RichProgress
from globalvoice.config.settings import Settings
from globalvoice.engines import registry
from globalvoice.pipeline.ingest import probe_input
from globalvoice.pipeline.local import DubEngines, DubRequest, check_output_dir, run_local
from globalvoice.storage.cache import ArtifactCache

__all__ = ["build_engines", "run_dub"]


def build_engines(settings: Settings) -> DubEngines:
    return DubEngines(
        vad=registry.build_vad(settings),
        stt=registry.build_stt(settings),
        mt=registry.build_mt(settings),
        tts=registry.build_tts(settings),
        mt_candidates=registry.build_candidate_mt(settings),
        speaker=registry.build_speaker(settings),
    )


def run_dub(
    input_path: Path,
    targets: tuple[str, ...],
    source: str | None,
    out_dir: Path,
    *,
    console: Console,
    max_tempo: float | None,
    loudness: float | None,
    use_cache: bool,
    speakers: int | None = None,
) -> None:
    settings = Settings()
    if speakers is not None:
        settings.pipeline.speakers = speakers
    if max_tempo is not None:
        settings.pipeline.max_tempo = max_tempo
    if loudness is not None:
        settings.pipeline.loudness_lufs = loudness
    probe_input(input_path)  # fail fast on bad input, before any model loads
    check_output_dir(out_dir)
    with console.status("Loading models (offline)..."):
        engines = build_engines(settings)
    request = DubRequest(input_path=input_path, targets=targets, out_dir=out_dir, source=source)
    cache = ArtifactCache.local(settings.cache_dir, enabled=use_cache)
    with RichProgress(console) as progress:
        result = run_local(
            request, engines=engines, settings=settings.pipeline, cache=cache, progress=progress
        )
    _print_summary(console, result.manifest, out_dir)


def _print_summary(console: Console, manifest: dict[str, Any], out_dir: Path) -> None:
    if not manifest["has_speech"]:
        console.print(
            "[yellow]No speech found[/]: the source was written unchanged, with empty subtitles."
        )
    table = Table(
        title=f"Dubbed {manifest['input']['name']} (source: {manifest['source_language']})"
    )
    for column in ("language", "lines", "fit", "flagged", "max tempo", "loudness", "true peak"):
        table.add_column(column)
    for language, s in manifest["summary"].items():
        table.add_row(
            language,
            str(s["lines"]),
            f"{s['fits']}/{s['dubbed']}",
            ", ".join(s["flagged"]) or "-",
            f"{s['max_tempo']:.2f}x",
            f"{s['loudness_lufs']} LUFS" if s["loudness_lufs"] is not None else "-",
            f"{s['true_peak_dbtp']} dBTP" if s["true_peak_dbtp"] is not None else "-",
        )
    console.print(table)
    wall = sum(t["wall_s"] for t in manifest["stages"])
    duration_s = manifest["input"]["duration_ms"] / 1000
    console.print(
        f"Pipeline time {wall:.1f} s for {duration_s:.1f} s of media "
        f"({wall / max(duration_s, 0.001):.2f}x real time)."
    )
    for artifact in manifest["artifacts"]:
        console.print(
            f"  {artifact['language']:>3} {artifact['kind']:<14} {out_dir / artifact['path']}"
        )
    console.print(f"  manifest           {out_dir / 'manifest.json'}")
