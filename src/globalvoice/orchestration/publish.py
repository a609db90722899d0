"""Publishing a dub's outputs: objects under its prefix, rows in dub_artifacts, the manifest."""

import mimetypes
import tempfile
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from globalvoice.config.settings import PipelineSettings
from globalvoice.dubbing import codec
from globalvoice.dubbing.entries import LanguageResult
from globalvoice.dubbing.finish import DubRecord, finish
from globalvoice.dubbing.lipsync import skipped_picture
from globalvoice.dubbing.manifest import ArtifactEntry, EngineEntry, LipsyncEntry, SoundEntry
from globalvoice.dubbing.sound import NO_SPEECH, ducked_bed
from globalvoice.dubbing.timing import StageTime
from globalvoice.media.loudness import LoudnessReading
from globalvoice.orchestration.context import WorkerContext
from globalvoice.orchestration.jobs import DubJob, job_pipeline
from globalvoice.orchestration.messages import FinishInput, TargetChain
from globalvoice.orchestration.reporting import publish_status
from globalvoice.storage import layout
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import Dub

__all__ = ["FinishActivities", "forget_if_deleted", "publish_outputs"]

_TYPES = {
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".json": "application/json",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
}


def _content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def forget_if_deleted(ctx: WorkerContext, job: DubJob) -> None:
    """A dub deleted while an activity ran: remove what the activity wrote after the deletion."""
    with ctx.sessions() as session:
        alive = session.get(Dub, job.dub_id) is not None
    if not alive:
        ctx.store.delete_prefix(layout.dub_prefix(job.tenant_id, job.dub_id))
        raise ApplicationError("The dub was deleted.", type="dub.deleted", non_retryable=True)


def publish_outputs(
    ctx: WorkerContext, job: DubJob, language: str, out_dir: Path, files: dict[str, str]
) -> dict[str, str]:
    """Upload each file of `files` (kind -> name in out_dir) and record it; kind -> object key."""
    keys = {}
    prefix = layout.dub_prefix(job.tenant_id, job.dub_id)
    for kind, name in files.items():
        path = out_dir / name
        key = prefix + name
        content_type = _content_type(path)
        forget_if_deleted(ctx, job)
        ctx.store.put_file(key, path, content_type)
        with ctx.sessions.begin() as session:
            repo.add_artifact(
                session,
                dub_id=job.dub_id,
                language=language,
                kind=kind,
                object_key=key,
                size_bytes=path.stat().st_size,
                content_type=content_type,
            )
        keys[kind] = key
    forget_if_deleted(ctx, job)
    return keys


class FinishActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx

    @activity.defn(name="finish")
    def finish(self, step: FinishInput) -> None:
        """Source subtitles, transcript and translation JSON, the manifest; the dub succeeded."""
        ctx, job = self._ctx, step.job
        analysis = codec.load_analysis(_required(ctx, step.analysed.analysis_key))
        settings = job_pipeline(ctx.settings.pipeline, job)
        separated = step.separated
        sound = (
            SoundEntry.model_validate_json(separated.sound)
            if separated is not None
            else ducked_bed(analysis, settings, NO_SPEECH).entry
        )
        stems = separated.stems if separated is not None else {}
        languages = separated.languages if separated is not None else {}
        stem_files = tuple(
            ArtifactEntry(language=languages[kind], kind=kind, path=_name(key))
            for kind, key in stems.items()
        )
        record = DubRecord(
            input_name=job.filename,
            analysis=analysis,
            results=tuple(_result(ctx, chain) for chain in step.chains),
            target_files=tuple(
                ArtifactEntry(language=chain.assembled.target, kind=kind, path=_name(key))
                for chain in step.chains
                for kind, key in chain.assembled.outputs.items()
            ),
            engines=_engines(step),
            settings=settings,
            times=tuple(_times(step)),
            sound=sound,
            lipsync={chain.assembled.target: _picture(chain, settings) for chain in step.chains},
            stem_files=stem_files,
        )
        with tempfile.TemporaryDirectory() as work:
            out = Path(work)
            for entry in finish(record, out).written:
                publish_outputs(ctx, job, entry.language, out, {entry.kind: entry.path})
        publish_status(ctx, job.dub_id, "succeeded", detected_language=analysis.transcript_language)

    @activity.defn(name="mark_failed")
    def mark_failed(self, dub_id: str, code: str, message: str) -> None:
        publish_status(self._ctx, dub_id, "failed", error_code=code, error_message=message)

    @activity.defn(name="mark_cancelled")
    def mark_cancelled(self, dub_id: str) -> None:
        publish_status(self._ctx, dub_id, "cancelled")


def _required(ctx: WorkerContext, key: str) -> bytes:
    data = ctx.store.get_bytes(key)
    if data is None:
        raise FileNotFoundError(f"missing object {key}")
    return data


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _result(ctx: WorkerContext, chain: TargetChain) -> LanguageResult:
    done = chain.assembled
    rendered = codec.load_rendered(_required(ctx, chain.rendered.key)) if chain.rendered else ()
    loudness = (
        LoudnessReading(integrated_lufs=done.loudness_lufs, true_peak_dbtp=done.true_peak_dbtp)
        if done.loudness_lufs is not None and done.true_peak_dbtp is not None
        else None
    )
    route = chain.translated.route if chain.translated is not None else "none"
    return LanguageResult(language=done.target, route=route, rendered=rendered, loudness=loudness)


def _picture(chain: TargetChain, settings: PipelineSettings) -> LipsyncEntry:
    if chain.lipsynced is None:  # no speech: the source as it is
        return skipped_picture(settings, NO_SPEECH).entry
    return LipsyncEntry.model_validate_json(chain.lipsynced.entry)


def _engines(step: FinishInput) -> dict[str, EngineEntry]:
    """The analysis's engines, the separator when the source was separated, and the lip-sync
    engines when a picture was redrawn."""
    engines = {role: EngineEntry(**e) for role, e in step.analysed.engines.items()}
    if step.separated is not None and step.separated.engine:
        engines["separator"] = EngineEntry(**step.separated.engine)
    for chain in step.chains:
        if chain.lipsynced is not None:
            engines.update({role: EngineEntry(**e) for role, e in chain.lipsynced.engines.items()})
    return engines


def _times(step: FinishInput) -> list[StageTime]:
    entries = list(step.analysed.times)
    if step.separated is not None:
        entries += step.separated.times
    for chain in step.chains:
        for result in (chain.translated, chain.rendered, chain.lipsynced, chain.assembled):
            if result is not None:
                entries += result.times
    return entries
