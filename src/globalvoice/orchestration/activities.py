"""The dub's activities: each runs one step of `globalvoice.dubbing.steps` on its pool's worker.

Inputs come from the blob store by key, outputs go back to it; the per-line artifact cache lives
in the same store, so an activity retried on another worker skips every finished line.
"""

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.errors import ConfigError, ModelNotAvailable, UserFacingError
from globalvoice.domain.glossary import entry_from_record
from globalvoice.domain.progress import ProgressSink
from globalvoice.dubbing import codec
from globalvoice.dubbing import steps as dub
from globalvoice.dubbing.engines import DubEngines, engine_entry, engine_table
from globalvoice.dubbing.entries import speaker_entries
from globalvoice.dubbing.finish import speaker_facts
from globalvoice.dubbing.lipsync import (
    PictureJob,
    lipsync_engine_table,
    lipsync_target,
    skip_reason,
    skipped_picture,
)
from globalvoice.dubbing.outputs import (
    TargetOutputs,
    TargetPlace,
    TargetSources,
    finish_target,
    passthrough_target,
)
from globalvoice.dubbing.request import output_stem, scratch_name
from globalvoice.dubbing.sound import SoundPlace, separate_step
from globalvoice.dubbing.steps import AnalysisPlan, StepRun
from globalvoice.orchestration.context import WorkerContext
from globalvoice.orchestration.jobs import DubJob, job_pipeline
from globalvoice.orchestration.messages import (
    Analysed,
    LipSynced,
    Separated,
    TargetInput,
    TargetResult,
    work_key,
)
from globalvoice.orchestration.publish import forget_if_deleted, publish_outputs
from globalvoice.orchestration.reporting import (
    ActivityReporter,
    StageHeartbeat,
    keep_alive,
    publish_status,
)
from globalvoice.pipeline.separate.stems import StemPaths
from globalvoice.pipeline.translate.by_sentence import SentenceOptions
from globalvoice.pipeline.voices.recall import LibraryBinding
from globalvoice.storage.db import repo

__all__ = ["DubActivities"]

P = ParamSpec("P")
R = TypeVar("R")


def user_errors_are_final(fn: Callable[P, R]) -> Callable[P, R]:
    """Bad input or configuration fails at once with the user-facing message; the rest retry."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (UserFacingError, ConfigError) as err:
            raise ApplicationError(err.user_message, type=err.code, non_retryable=True) from err

    return wrapper


class DubActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx

    def _pipeline(self, job: DubJob) -> PipelineSettings:
        return job_pipeline(self._ctx.settings.pipeline, job)

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        self._ctx.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._ctx.scratch_dir) as work:
            yield Path(work)

    def _fetch(self, key: str, path: Path) -> Path:
        if not self._ctx.store.download(key, path):
            raise ApplicationError(f"Missing object {key}", type="storage.missing")
        return path

    def _source(self, job: DubJob, work: Path) -> Path:
        return self._fetch(job.upload_key, work / scratch_name(job.filename))

    def _library(self, job: DubJob) -> LibraryBinding:
        """The tenant's voice library, with the voices assigned to this dub's speakers so far."""
        library = self._ctx.voices()
        return LibraryBinding(
            library=library,
            tenant_id=job.tenant_id,
            threshold=self._ctx.settings.speaker.match_threshold,
            video_name=job.filename,
            source=job.dub_id,
            assignments=library.assignments(job.tenant_id, job.dub_id),
        )

    def _run(self, job: DubJob, progress: ProgressSink) -> StepRun:
        return StepRun(settings=self._pipeline(job), cache=self._ctx.cache, progress=progress)

    def _record_speakers(self, job: DubJob, analysis: dub.SourceAnalysis) -> None:
        """The speakers and their library voices on the dub's row (the API's dub view)."""
        entries = [e.model_dump(mode="json") for e in speaker_entries(speaker_facts(analysis))]
        with self._ctx.sessions.begin() as session:
            repo.update_dub_status(session, job.dub_id, "running", manifest={"speakers": entries})

    @activity.defn(name="analyse")
    @user_errors_are_final
    def analyse(self, job: DubJob) -> Analysed:
        ctx = self._ctx
        publish_status(ctx, job.dub_id, "running")
        reporter = ActivityReporter(ctx, job.dub_id)
        run = self._run(job, reporter)
        engines = DubEngines(
            vad=ctx.vad(), stt=ctx.stt(), mt=ctx.mt(), tts=ctx.tts(), speaker=ctx.speaker()
        )
        library = self._library(job) if run.settings.voice_matching else None
        plan = AnalysisPlan(source=job.source, targets=tuple(job.targets), library=library)
        with keep_alive(), self._scratch() as work:
            analysis = dub.analyse_source(self._source(job, work), plan, engines, run)
        reporter.flush()
        self._record_speakers(job, analysis)
        key = work_key(job, "analysis.json")
        ctx.store.put_bytes(key, codec.dump(analysis), "application/json")
        forget_if_deleted(ctx, job)
        return Analysed(
            analysis_key=key,
            source_language=analysis.source_language,
            line_count=len(analysis.lines),
            engines={role: e.model_dump() for role, e in engine_table(engines).items()},
            times=list(run.clock.times),
        )

    def _bytes(self, key: str) -> bytes:
        data = self._ctx.store.get_bytes(key)
        if data is None:
            raise ApplicationError(f"Missing object {key}", type="storage.missing")
        return data

    def _analysis(self, key: str) -> dub.SourceAnalysis:
        return codec.load_analysis(self._bytes(key))

    @activity.defn(name="translate")
    @user_errors_are_final
    def translate(self, step: TargetInput) -> TargetResult:
        ctx, job = self._ctx, step.job
        analysis = self._analysis(step.analysis_key)
        reporter = ActivityReporter(ctx, job.dub_id)
        run = self._run(job, reporter)
        options = SentenceOptions(glossary=tuple(entry_from_record(r) for r in job.glossary))
        with keep_alive():
            translated = dub.translate_target(
                analysis, step.target, ctx.mt_candidates(), run, options
            )
        reporter.flush()
        key = work_key(job, f"{step.target}.translated.json")
        ctx.store.put_bytes(key, codec.dump(translated), "application/json")
        forget_if_deleted(ctx, job)
        return TargetResult(
            target=step.target,
            key=key,
            route=dub.route_for(ctx.mt(), analysis.source_language, step.target),
            times=list(run.clock.times),
        )

    @activity.defn(name="synthesize")
    @user_errors_are_final
    def synthesize(self, step: TargetInput) -> TargetResult:
        ctx, job = self._ctx, step.job
        analysis = self._analysis(step.analysis_key)
        translated = codec.load_translated(self._bytes(step.translated_key))
        reporter = ActivityReporter(ctx, job.dub_id)
        run = self._run(job, reporter)
        with keep_alive(), self._scratch() as work:
            speech = work / "speech.wav"
            rendered = dub.synthesize_target(analysis, translated, speech, ctx.tts(), run)
            speech_key = work_key(job, f"{step.target}.speech.wav")
            ctx.store.put_file(speech_key, speech, "audio/wav")
        reporter.flush()
        key = work_key(job, f"{step.target}.rendered.json")
        ctx.store.put_bytes(key, codec.dump(rendered), "application/json")
        forget_if_deleted(ctx, job)
        return TargetResult(
            target=step.target, key=key, speech_key=speech_key, times=list(run.clock.times)
        )

    @activity.defn(name="separate")
    @user_errors_are_final
    def separate(self, step: TargetInput) -> Separated:
        """The source's dialogue and background stems, published as the dub's artifacts."""
        ctx, job = self._ctx, step.job
        analysis = self._analysis(step.analysis_key)
        reporter = ActivityReporter(ctx, job.dub_id)
        run = self._run(job, reporter)
        separator, unavailable = ctx.separator()
        with keep_alive(), self._scratch() as work:
            place = SoundPlace(
                input_path=self._source(job, work),
                out_dir=work / "out",
                stem=output_stem(job.filename),
            )
            place.out_dir.mkdir()
            bed = separate_step(place, analysis, separator, run, unavailable)
            stems: dict[str, str] = {}
            for entry in bed.files:
                published = {entry.kind: entry.path}
                stems.update(publish_outputs(ctx, job, entry.language, place.out_dir, published))
        reporter.flush()
        return Separated(
            sound=bed.entry.model_dump_json(),
            stems=stems,
            languages={entry.kind: entry.language for entry in bed.files},
            engine=engine_entry(separator.info).model_dump() if bed.stems and separator else {},
            times=list(run.clock.times),
        )

    @activity.defn(name="lipsync")
    @user_errors_are_final
    def lipsync(self, step: TargetInput) -> LipSynced:
        """The target's speaking faces redrawn (video only, into the work area), or why not.
        Blocks go to the artifact cache as they are encoded: a retry resumes after the last."""
        ctx, job = self._ctx, step.job
        analysis = self._analysis(step.analysis_key)
        beats = StageHeartbeat(ActivityReporter(ctx, job.dub_id), "lipsync")
        run = self._run(job, beats)
        skipped = skip_reason(analysis, run.settings)
        if skipped is not None:  # nothing to fetch or load
            entry = skipped_picture(run.settings, skipped).entry
            return LipSynced(target=step.target, entry=entry.model_dump_json())
        engines, unavailable = ctx.lipsync()
        if engines is None and run.settings.lipsync == "on":
            raise ModelNotAvailable(unavailable)
        video_key = ""
        with keep_alive(details=beats.details), self._scratch() as work:
            picture = lipsync_target(
                self._picture_job(step, work),
                analysis,
                codec.load_rendered(self._bytes(step.rendered_key)),
                engines,
                run,
                unavailable,
            )
            if picture.video is not None:
                video_key = work_key(job, f"{step.target}.lipsync.mp4")
                ctx.store.put_file(video_key, picture.video, "video/mp4")
        beats.flush()
        forget_if_deleted(ctx, job)
        used = lipsync_engine_table(engines) if engines is not None and video_key else {}
        return LipSynced(
            target=step.target,
            entry=picture.entry.model_dump_json(),
            video_key=video_key,
            engines={role: entry.model_dump() for role, entry in used.items()},
            times=list(run.clock.times),
        )

    def _picture_job(self, step: TargetInput, work: Path) -> PictureJob:
        """The source, the target's dubbed speech and the dialogue stem, fetched into `work`."""
        dialogue = None
        if step.dialogue_key:
            dialogue = self._fetch(step.dialogue_key, work / "dialogue.flac")
        return PictureJob(
            target=step.target,
            input_path=self._source(step.job, work),
            speech_track=self._fetch(step.speech_key, work / "speech.wav"),
            dialogue=dialogue,
            out=work / "picture.mp4",
        )

    @activity.defn(name="assemble")
    @user_errors_are_final
    def assemble(self, step: TargetInput) -> TargetResult:
        ctx, job = self._ctx, step.job
        analysis = self._analysis(step.analysis_key)
        run = StepRun(settings=self._pipeline(job), cache=ctx.cache)
        with keep_alive(), self._scratch() as work:
            source = self._source(job, work)
            place = TargetPlace(
                out_dir=work / "out", stem=output_stem(job.filename), target=step.target
            )
            place.out_dir.mkdir()
            outputs = self._outputs(step, analysis, (source, place), run)
            keys = publish_outputs(ctx, job, step.target, place.out_dir, outputs.files)
        ctx.events.publish(
            job.dub_id,
            {"type": "progress", "stage": "assemble", "language": step.target, "done": 1},
        )
        loudness = outputs.loudness
        return TargetResult(
            target=step.target,
            key=step.rendered_key,
            outputs=keys,
            loudness_lufs=loudness.integrated_lufs if loudness else None,
            true_peak_dbtp=loudness.true_peak_dbtp if loudness else None,
            times=list(run.clock.times),
        )

    def _outputs(
        self,
        step: TargetInput,
        analysis: dub.SourceAnalysis,
        where: tuple[Path, TargetPlace],
        run: StepRun,
    ) -> TargetOutputs:
        source, place = where
        if not analysis.lines:
            return passthrough_target(source, analysis, place)
        speech = self._fetch(step.speech_key, place.out_dir.parent / "speech.wav")
        rendered = codec.load_rendered(self._bytes(step.rendered_key))
        stems = None
        if step.background_key and step.dialogue_key:
            stems = StemPaths(
                background=self._fetch(step.background_key, place.out_dir.parent / "bg.flac"),
                dialogue=self._fetch(step.dialogue_key, place.out_dir.parent / "dialogue.flac"),
            )
        redrawn = (
            self._fetch(step.redrawn_key, place.out_dir.parent / "picture.mp4")
            if step.redrawn_key
            else None
        )
        sources = TargetSources(
            input_path=source, speech_track=speech, stems=stems, redrawn_video=redrawn
        )
        return finish_target(sources, analysis, rendered, place, run)
