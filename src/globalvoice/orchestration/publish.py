"""Publishing a dub's outputs: objects under its prefix, rows in dub_artifacts, the manifest."""

import json
import mimetypes
import tempfile
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from globalvoice import __version__
from globalvoice.dubbing import codec
from globalvoice.dubbing import steps as dub
from globalvoice.dubbing.manifest import Artifact, LanguageResult, build_manifest
from globalvoice.dubbing.timing import StageTime
from globalvoice.media.loudness import LoudnessReading
from globalvoice.orchestration.context import WorkerContext
from globalvoice.orchestration.jobs import DubJob, job_pipeline, output_prefix
from globalvoice.orchestration.messages import FinishInput
from globalvoice.orchestration.reporting import publish_status
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
        ctx.store.delete_prefix(output_prefix(job.tenant_id, job.dub_id))
        raise ApplicationError("The dub was deleted.", type="dub.deleted", non_retryable=True)


def publish_outputs(
    ctx: WorkerContext, job: DubJob, language: str, out_dir: Path, files: dict[str, str]
) -> dict[str, str]:
    """Upload each file of `files` (kind -> name in out_dir) and record it; kind -> object key."""
    keys = {}
    prefix = output_prefix(job.tenant_id, job.dub_id)
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
        stem = Path(job.filename).stem
        results, artifacts = [], []
        routes = {t.target: t.route for t in step.translations}
        rendered = {r.target: codec.load_rendered(_required(ctx, r.key)) for r in step.renders}
        with tempfile.TemporaryDirectory() as work:
            out = Path(work)
            source = analysis.source_language
            files = dub.write_subtitles(dub.source_cues(analysis), out / f"{stem}.{source}")
            (out / f"{stem}.transcript.json").write_text(_transcript(analysis))
            files["transcript"] = f"{stem}.transcript.json"
            publish_outputs(ctx, job, source, out, files)
            artifacts += [Artifact(language=source, kind=k, path=p) for k, p in files.items()]
            for done in step.targets:
                lines = rendered.get(done.target, ())
                results.append(
                    LanguageResult(
                        language=done.target,
                        route=routes.get(done.target, "none"),
                        rendered=lines,
                        loudness=_loudness(done.loudness_lufs, done.true_peak_dbtp),
                    )
                )
                artifacts += [
                    Artifact(language=done.target, kind=k, path=key.rsplit("/", 1)[-1])
                    for k, key in done.outputs.items()
                ]
            manifest = build_manifest(
                version=__version__,
                input_name=job.filename,
                input_digest=analysis.digest,
                info=analysis.info,
                source_language=analysis.transcript_language,
                languages_detected=analysis.languages_detected,
                has_speech=bool(analysis.lines),
                voices=analysis.voices,
                engines=_engines(step),
                settings=job_pipeline(ctx.settings.pipeline, job).model_dump(),
                artifacts=artifacts,
                lines=analysis.lines,
                results=results,
                times=_times(step),
                diarization=analysis.diarization,
                library_voices=analysis.library_voices,
            )
            for result in results:
                name = f"{stem}.{result.language}.translation.json"
                segments = [
                    {
                        "id": s["id"],
                        "start_ms": s["start_ms"],
                        "end_ms": s["end_ms"],
                        "source_text": s["source_text"],
                        **s["targets"][result.language],
                    }
                    for s in manifest["segments"]
                ]
                (out / name).write_text(json.dumps(segments, indent=2, ensure_ascii=False))
                publish_outputs(ctx, job, result.language, out, {"translation": name})
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            publish_outputs(ctx, job, "all", out, {"manifest": "manifest.json"})
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


def _transcript(analysis: dub.SourceAnalysis) -> str:
    segments = [
        {
            "id": ln.id,
            "start_ms": ln.start_ms,
            "end_ms": ln.end_ms,
            "speaker": ln.speaker_id,
            "language": ln.language,
            "text": ln.text,
        }
        for ln in analysis.lines
    ]
    body = {"language": analysis.transcript_language, "segments": segments}
    return json.dumps(body, indent=2, ensure_ascii=False)


def _loudness(lufs: float | None, peak: float | None) -> LoudnessReading | None:
    if lufs is None or peak is None:
        return None
    return LoudnessReading(integrated_lufs=lufs, true_peak_dbtp=peak)


def _engines(step: FinishInput) -> dict[str, dict[str, str]]:
    table = dict(step.analysed.engines)
    for role, results in (("mt", step.translations), ("tts", step.renders)):
        if results:
            table[role] = results[0].engine
    return table


def _times(step: FinishInput) -> list[StageTime]:
    entries = list(step.analysed.times)
    for group in (step.translations, step.renders, step.targets):
        for result in group:
            entries += result.times
    return entries
