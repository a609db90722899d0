"""The dub's sound bed: the source separated into dialogue and background (music and effects),
or, when separation is off or cannot run, the source ducked under the dub as before.

One step for the CLI and the service alike: `separate_step` writes the stems
(`<stem>.background.flac`, the M&E track, and `<stem>.dialogue.flac`) and says in the
manifest's `sound` entry which bed the dub used and why.
"""

from dataclasses import dataclass
from pathlib import Path

from globalvoice.config.settings import PipelineSettings
from globalvoice.dubbing.manifest import ArtifactEntry, SoundEntry
from globalvoice.dubbing.steps import SourceAnalysis, StepRun
from globalvoice.engines.separation.protocol import Separator
from globalvoice.pipeline.separate.stems import SeparationJob, StemPaths, separate_source

NO_SPEECH = "no speech: the source is kept unchanged"

__all__ = [
    "NO_SPEECH",
    "SoundBed",
    "SoundPlace",
    "dialogue_spans",
    "ducked_bed",
    "separate_step",
    "stem_paths",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SoundBed:
    """What the targets are mixed over: the stems (None: the ducked source), the manifest's
    entry, and the stem files written (relative to the output directory)."""

    stems: StemPaths | None
    entry: SoundEntry
    files: tuple[ArtifactEntry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SoundPlace:
    """The source file, and `<out_dir>/<stem>.*` for its stems."""

    input_path: Path
    out_dir: Path
    stem: str


def stem_paths(out_dir: Path, stem: str) -> StemPaths:
    return StemPaths(
        dialogue=out_dir / f"{stem}.dialogue.flac",
        background=out_dir / f"{stem}.background.flac",
    )


def dialogue_spans(analysis: SourceAnalysis) -> list[tuple[int, int]]:
    """Where someone speaks: every line, and every speaker turn the VAD found (speech Whisper
    did not put in a line, or a line's edges Whisper placed late or early), merged."""
    turns = analysis.diarization.turns if analysis.diarization else ()
    spans = sorted(
        [(line.start_ms, line.end_ms) for line in analysis.lines]
        + [(turn.start_ms, turn.end_ms) for turn in turns]
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def ducked_bed(analysis: SourceAnalysis, settings: PipelineSettings, reason: str) -> SoundBed:
    return SoundBed(
        stems=None,
        entry=SoundEntry(
            mix="ducked" if analysis.lines else "source",
            reason=reason,
            gain_db=settings.duck_db,
            separation=None,
        ),
    )


def separate_step(
    place: SoundPlace,
    analysis: SourceAnalysis,
    separator: Separator | None,
    run: StepRun,
    unavailable: str = "",
) -> SoundBed:
    """Split the source when it has speech and separation is on; otherwise say why not."""
    mode = run.settings.separation
    if not analysis.lines:
        return ducked_bed(analysis, run.settings, NO_SPEECH)
    if mode == "off":
        return ducked_bed(analysis, run.settings, "separation is off (pipeline.separation)")
    if separator is None:
        return ducked_bed(analysis, run.settings, unavailable or "no separation engine")
    paths = stem_paths(place.out_dir, place.stem)
    job = SeparationJob(
        source=place.input_path,
        info=analysis.info,
        digest=analysis.digest,
        spans_ms=dialogue_spans(analysis),
    )
    with run.clock.stage("separate"):
        figures = separate_source(job, separator, paths, run.cache, run.progress)
    entry = SoundEntry(
        mix="separated",
        reason=f"dialogue and background separated by {figures.engine}",
        gain_db=run.settings.bed_dip_db,
        separation=figures,
    )
    source = analysis.source_language
    files = (
        ArtifactEntry(language="all", kind="background", path=paths.background.name),
        ArtifactEntry(language=source, kind="dialogue", path=paths.dialogue.name),
    )
    return SoundBed(stems=paths, entry=entry, files=files)
