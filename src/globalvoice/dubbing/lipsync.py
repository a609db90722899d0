"""The dub's picture: each target's speaking faces redrawn to say its dubbed words
(`pipeline.lipsync`), or the source's picture kept, and why, for the manifest's `lipsync` entry.

One step for the CLI and the service alike, run per target after synthesis (its dubbed speech
track exists) and before the mux. The redrawn video's blocks go to the artifact cache as they
are encoded, under a key of everything the picture depends on: a run that stopped part-way (a
CLI re-run after a crash, a Temporal retry on another worker) resumes after the last stored
block, and a finished picture is not redrawn at all.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter

from globalvoice.config.settings import PipelineSettings
from globalvoice.dubbing.engines import LipsyncEngines, engine_entry
from globalvoice.dubbing.manifest import EngineEntry, LipsyncEntry
from globalvoice.dubbing.sound import NO_SPEECH
from globalvoice.dubbing.steps import SourceAnalysis, StepRun
from globalvoice.pipeline import keys
from globalvoice.pipeline.lipsync import render
from globalvoice.pipeline.lipsync.report import LipsyncReport
from globalvoice.pipeline.lipsync.speaker_face import FacePolicy
from globalvoice.pipeline.lipsync.stage import (
    LipsyncJob,
    LipsyncLine,
    LipsyncTools,
    lipsync_video,
)
from globalvoice.pipeline.render.synthesize import RenderedLine
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "NO_VIDEO",
    "Picture",
    "PictureJob",
    "face_policy",
    "lipsync_engine_table",
    "lipsync_target",
    "skip_reason",
    "skipped_picture",
    "sound_digest",
]

NO_VIDEO = "no video stream"

_REPORT = TypeAdapter(LipsyncReport)


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureJob:
    """One target's picture: the source, its dubbed speech, the source's separated dialogue
    (None: the source's own soundtrack tells who speaks) and where the redrawn video goes."""

    target: str
    input_path: Path
    speech_track: Path
    dialogue: Path | None
    out: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Picture:
    """The manifest's entry, and the redrawn video (video only; None: the source's picture)."""

    entry: LipsyncEntry
    video: Path | None = None


def skipped_picture(settings: PipelineSettings, reason: str) -> Picture:
    return Picture(
        entry=LipsyncEntry(mode=settings.lipsync, redrawn=False, reason=reason, report=None)
    )


def lipsync_engine_table(engines: LipsyncEngines) -> dict[str, EngineEntry]:
    """The manifest's engines that redrew a picture: the mouth engine and the face tracker."""
    return {
        "lipsync": engine_entry(engines.engine.info),
        "face": engine_entry(engines.landmarker.info),
    }


def face_policy(settings: PipelineSettings) -> FacePolicy:
    """auto: a face is redrawn only when its mouth is seen to move with the source dialogue;
    on: the best face in view is redrawn even when it is not seen speaking."""
    return FacePolicy(require_sync=settings.lipsync != "on")


def skip_reason(analysis: SourceAnalysis, settings: PipelineSettings) -> str | None:
    """Why lip-sync does not look at this source's picture at all; None: it does (and needs
    its engines)."""
    if not analysis.lines:
        return NO_SPEECH
    if settings.lipsync == "off":
        return "lip-sync is off (pipeline.lipsync)"
    info = analysis.info
    if not info.has_video:
        return NO_VIDEO
    if (info.width or 0) % 2 or (info.height or 0) % 2:
        # the redraw reads and encodes 4:2:0 planes, which need even sides
        return f"frame size {info.width}x{info.height} is odd: the picture is kept"
    return None


def lipsync_target(
    job: PictureJob,
    analysis: SourceAnalysis,
    rendered: Sequence[RenderedLine],
    engines: LipsyncEngines | None,
    run: StepRun,
    unavailable: str = "",
) -> Picture:
    """Redraw the speaking faces of `job.target`'s dubbed lines when lip-sync is on and can
    run; otherwise say why the source's picture is kept."""
    settings = run.settings
    lines = _lines(rendered)
    reason = skip_reason(analysis, settings)
    if reason is not None:
        return skipped_picture(settings, reason)
    if engines is None:
        return skipped_picture(settings, unavailable or "no lip-sync engine")
    if not lines:
        return skipped_picture(settings, "no dubbed line: every line keeps its own audio")
    policy = face_policy(settings)
    key = _key(job, analysis, lines, engines, policy)
    tools = LipsyncTools(
        engine=engines.engine,
        landmarker=engines.landmarker,
        measure=engines.measure,
        blocks=_CachedBlocks(run.cache, key),
        policy=policy,
        progress=run.progress,
        language=job.target,
    )
    stage = LipsyncJob(
        video=job.input_path,
        lines=lines,
        dub_speech=job.speech_track,
        source_dialogue=job.dialogue or job.input_path,
        out=job.out,
    )
    with run.clock.stage("lipsync", job.target):
        report = _finished(key, job.out, run.cache)
        if report is None:
            try:
                report = lipsync_video(stage, tools)
            except _undecodable() as err:
                return skipped_picture(settings, f"video could not be decoded: {err}")
            _store(key, report, job.out, run.cache)
    entry = LipsyncEntry(
        mode=settings.lipsync, redrawn=report.redrawn, reason=_reason(report), report=report
    )
    return Picture(entry=entry, video=job.out if report.redrawn else None)


def _key(
    job: PictureJob,
    analysis: SourceAnalysis,
    lines: Sequence[LipsyncLine],
    engines: LipsyncEngines,
    policy: FacePolicy,
) -> str:
    return keys.lipsync_key(
        keys.LipsyncKey(
            input_digest=analysis.digest,
            engine=engines.engine.info.fingerprint,
            face=engines.landmarker.info.fingerprint,
            dub_speech=sound_digest(job.speech_track),
            source_dialogue=sound_digest(job.dialogue) if job.dialogue else analysis.digest,
            lines=[_key_line(line) for line in lines],
            policy=repr(policy),
            block_frames=render.BLOCK_FRAMES,
        )
    )


class _CachedBlocks:
    """The redrawn video's blocks in the artifact cache, under `<key>-block-<index>`."""

    def __init__(self, cache: ArtifactCache, key: str) -> None:
        self._cache, self._key = cache, key

    def get(self, index: int, path: Path) -> bool:
        return self._cache.get_file(f"{self._key}-block-{index}", ".mp4", path)

    def put(self, index: int, path: Path) -> None:
        self._cache.put_file(f"{self._key}-block-{index}", ".mp4", path)


def _lines(rendered: Sequence[RenderedLine]) -> tuple[LipsyncLine, ...]:
    """The dubbed lines with their placement (a kept line's picture stays as it is)."""
    return tuple(
        LipsyncLine(
            line_id=r.translated.line.id,
            source_ms=(r.translated.line.start_ms, r.translated.line.end_ms),
            dub_ms=(r.placement.start_ms, r.placement.end_ms),
            phonemes=r.phonemes,
        )
        for r in rendered
        if r.placement is not None
    )


def sound_digest(path: Path) -> str:
    """SHA-256 of a sound file's samples, rate and channels: not of its bytes (libsndfile's float
    WAV carries a PEAK chunk with the time it was written)."""
    import hashlib

    import numpy as np
    import soundfile

    digest = hashlib.sha256()
    with soundfile.SoundFile(str(path)) as sound:
        digest.update(f"{sound.samplerate}:{sound.channels}:".encode())
        for block in sound.blocks(blocksize=1 << 18, dtype="float32", always_2d=True):
            digest.update(np.ascontiguousarray(block).tobytes())
    return digest.hexdigest()


def _key_line(line: LipsyncLine) -> keys.LipsyncKeyLine:
    return keys.LipsyncKeyLine(
        line_id=line.line_id,
        source_ms=line.source_ms,
        dub_ms=line.dub_ms,
        phonemes=tuple((p.phoneme, round(p.start_ms), round(p.end_ms)) for p in line.phonemes),
    )


def _finished(key: str, out: Path, cache: ArtifactCache) -> LipsyncReport | None:
    """The report of a picture already made for `key` (its video written to `out`), if any."""
    report = cache.get_model(key, _REPORT)
    if report is None or (report.redrawn and not cache.get_file(key, ".mp4", out)):
        return None
    return report


def _store(key: str, report: LipsyncReport, out: Path, cache: ArtifactCache) -> None:
    if report.redrawn:
        cache.put_file(key, ".mp4", out)
    cache.put_model(key, report, _REPORT)


def _reason(report: LipsyncReport) -> str:
    if report.redrawn:
        drawn = sum(line.redrawn for line in report.lines)
        return f"{drawn} of {len(report.lines)} dubbed lines redrawn by {report.engine}"
    why = Counter(line.face for line in report.lines)
    listed = ", ".join(f"{reason} ({count})" for reason, count in why.most_common())
    return f"no face redrawn: {listed}"


def _undecodable() -> tuple[type[Exception], ...]:
    """What PyAV raises for a video it cannot decode: corrupt data, a codec it lacks, a
    feature its decoder does not implement."""
    import av

    return (av.error.InvalidDataError, av.error.DecoderNotFoundError, av.error.PatchWelcomeError)
