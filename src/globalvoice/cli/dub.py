"""`globalvoice dub`: preflight, build engines, run the local pipeline, print a summary."""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from globalvoice.cli.glossary import read_glossary
from globalvoice.cli.preflight import CheckedDub, removing_empty_out_dir
from globalvoice.cli.progress import RichProgress
from globalvoice.config.settings import Settings
from globalvoice.domain.errors import ConfigError, NotFound, UserFacingError
from globalvoice.dubbing.engines import build_engines
from globalvoice.dubbing.local import LocalDub, check_output_dir, run_local
from globalvoice.dubbing.manifest import Manifest
from globalvoice.dubbing.steps import StepRun
from globalvoice.pipeline.voices.recall import LibraryBinding
from globalvoice.storage.cache import ArtifactCache

__all__ = ["parse_assignments", "run_dub"]

_ASSIGNMENT = re.compile(r"^(S[1-9][0-9]?)=(\S{1,40})$")


def run_dub(
    checked: CheckedDub,
    *,
    console: Console,
    use_cache: bool,
    voices: Sequence[str] = (),
    use_library: bool = True,
    glossary: Path | None = None,
) -> None:
    """Dub an input that passed `preflight` (options, limits, probe); a failed dub leaves no
    empty output folder behind."""
    settings, input_path, out_dir = checked.settings, checked.input_path, checked.out_dir
    terms = read_glossary(glossary) if glossary is not None else ()
    assignments = parse_assignments(voices)
    if assignments and not use_library:
        raise UserFacingError("--voice takes voices from the library: drop --no-library.")
    if assignments and not settings.pipeline.voice_matching:
        raise UserFacingError("--voice needs voice matching (GV_PIPELINE__VOICE_MATCHING=true).")
    cache = ArtifactCache.local(settings.cache_dir, enabled=use_cache)
    with (
        removing_empty_out_dir(out_dir),
        _binding(settings, input_path, assignments, use_library, console) as library,
    ):
        check_output_dir(out_dir)
        request = LocalDub(
            input_path=input_path,
            targets=checked.targets,
            out_dir=out_dir,
            source=checked.source,
            glossary=terms,
            library=library,
        )
        with console.status("Loading models (offline)..."):
            engines = build_engines(settings)
        with RichProgress(console) as progress:
            run = StepRun(settings=settings.pipeline, cache=cache, progress=progress)
            result = run_local(request, engines, run)
    _print_summary(console, result.manifest, out_dir)


def parse_assignments(values: Sequence[str]) -> dict[str, str]:
    """`--voice S1=voc_...` options -> {"S1": "voc_..."}; a speaker given twice is an error."""
    out: dict[str, str] = {}
    for value in values:
        found = _ASSIGNMENT.match(value.strip())
        if found is None:
            raise UserFacingError(f"--voice {value!r}: write SPEAKER=VOICE_ID, e.g. S1=voc_1a2b...")
        speaker, voice_id = found.groups()
        if speaker in out:
            raise UserFacingError(f"--voice gives {speaker} twice.")
        out[speaker] = voice_id
    return out


@contextmanager
def _binding(
    settings: Settings,
    input_path: Path,
    assignments: dict[str, str],
    use_library: bool,
    console: Console,
) -> Iterator[LibraryBinding | None]:
    """The embedded voice library (tenant "local"), open for the dub; None when not used."""
    if not use_library or not settings.pipeline.voice_matching:
        yield None
        return
    try:
        from globalvoice.storage.voices import LOCAL_TENANT, build_voice_library
    except ImportError as err:
        if assignments:
            raise ConfigError(
                "--voice needs the voice library's packages: pip install 'globalvoice[service]'."
            ) from err
        console.print("[yellow]No voice library[/] (pip install 'globalvoice[service]').")
        yield None
        return
    settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    library = build_voice_library(settings.service)
    try:
        for voice_id in assignments.values():
            if library.get(LOCAL_TENANT, voice_id) is None:
                raise NotFound(f"No voice {voice_id} in the library (globalvoice voices list).")
        yield LibraryBinding(
            library=library,
            tenant_id=LOCAL_TENANT,
            threshold=settings.speaker.match_threshold,
            video_name=input_path.name,
            assignments=assignments,
        )
    finally:
        library.close()


def _print_summary(console: Console, manifest: Manifest, out_dir: Path) -> None:
    if not manifest.has_speech:
        console.print(
            "[yellow]No speech found[/]: the source was written unchanged, with empty subtitles."
        )
    table = Table(title=f"Dubbed {manifest.input.name} (source: {manifest.source_language})")
    for column in ("language", "lines", "fit", "flagged", "max tempo", "loudness", "true peak"):
        table.add_column(column)
    for language, s in manifest.summary.items():
        table.add_row(
            language,
            str(s.lines),
            f"{s.fits}/{s.dubbed}",
            ", ".join(s.flagged) or "-",
            f"{s.max_tempo:.2f}x",
            f"{s.loudness_lufs} LUFS" if s.loudness_lufs is not None else "-",
            f"{s.true_peak_dbtp} dBTP" if s.true_peak_dbtp is not None else "-",
        )
    console.print(table)
    for speaker in manifest.speakers:
        if (known := speaker.library_voice) is not None:
            how: str = known.choice
            if known.cosine is not None:
                how += f", cosine {known.cosine:.2f}"
            sid, voice_id = speaker.speaker_id, known.voice_id
            console.print(f"  {sid}: library voice {voice_id} ({how}), {known.name}")
    wall = sum(t.wall_s for t in manifest.stages)
    duration_s = manifest.input.duration_ms / 1000
    console.print(
        f"Pipeline time {wall:.1f} s for {duration_s:.1f} s of media "
        f"({wall / max(duration_s, 0.001):.2f}x real time)."
    )
    for artifact in manifest.artifacts:
        console.print(f"  {artifact.language:>3} {artifact.kind:<14} {out_dir / artifact.path}")
    console.print(f"  manifest           {out_dir / 'manifest.json'}")
