"""Run the whole dub in one process (the CLI's runner). Outputs appear only when complete."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from globalvoice.domain.errors import OutputNotWritable
from globalvoice.domain.glossary import GlossaryEntry
from globalvoice.domain.progress import StageProgress
from globalvoice.dubbing import steps
from globalvoice.dubbing.engines import DubEngines, engine_entry, engine_table
from globalvoice.dubbing.entries import LanguageResult
from globalvoice.dubbing.finish import DubRecord, finish
from globalvoice.dubbing.lipsync import (
    PictureJob,
    lipsync_engine_table,
    lipsync_target,
    skipped_picture,
)
from globalvoice.dubbing.manifest import ArtifactEntry, EngineEntry, LipsyncEntry, Manifest
from globalvoice.dubbing.outputs import (
    TargetPlace,
    TargetSources,
    finish_target,
    passthrough_target,
)
from globalvoice.dubbing.request import output_stem
from globalvoice.dubbing.sound import NO_SPEECH, SoundBed, SoundPlace, separate_step
from globalvoice.dubbing.steps import AnalysisPlan, SourceAnalysis, StepRun
from globalvoice.pipeline.translate.by_sentence import SentenceOptions
from globalvoice.pipeline.translate.lines import check_pairs
from globalvoice.pipeline.voices.recall import LibraryBinding

__all__ = ["DubResult", "LocalDub", "check_output_dir", "run_local"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalDub:
    """One file dubbed on this machine: where from, into which languages, where to."""

    input_path: Path
    targets: tuple[str, ...]
    out_dir: Path
    source: str | None = None  # None = detect
    glossary: tuple[GlossaryEntry, ...] = ()  # terms kept or translated one fixed way
    library: LibraryBinding | None = None  # the voice library speakers are recalled from


@dataclass(frozen=True, slots=True, kw_only=True)
class _TargetDone:
    result: LanguageResult
    files: list[ArtifactEntry]
    picture: LipsyncEntry


@dataclass(frozen=True, slots=True, kw_only=True)
class DubResult:
    out_dir: Path
    manifest: Manifest


def check_output_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".gv-write-test-"):
            pass
    except OSError as err:
        raise OutputNotWritable(
            f"Cannot write to the output directory {out_dir}: {err.strerror}. "
            "Choose another --out directory."
        ) from err


def run_local(request: LocalDub, engines: DubEngines, run: StepRun) -> DubResult:
    """Dub `request.input_path` into every target; write outputs and manifest.json to out_dir.

    With `request.library` (and voice matching) speakers keep their voices across videos: see
    `pipeline.voices.recall`; the CLI passes the embedded library (tenant "local")."""
    steps.check_targets(request.targets, tts=engines.tts)
    if request.source is not None:
        check_pairs([request.source], request.targets, translator=engines.mt)
    check_output_dir(request.out_dir)
    plan = AnalysisPlan(source=request.source, targets=request.targets, library=request.library)
    analysis = steps.analyse_source(request.input_path, plan, engines, run)
    with tempfile.TemporaryDirectory(dir=request.out_dir, prefix=".globalvoice-work-") as work:
        staging = Path(work)
        stem = output_stem(request.input_path.name)
        place = SoundPlace(input_path=request.input_path, out_dir=staging, stem=stem)
        bed = separate_step(place, analysis, engines.separator, run, engines.separator_unavailable)
        results, files = [], list(bed.files)
        pictures: dict[str, LipsyncEntry] = {}
        for target in request.targets:
            done = _dub_target(request, (analysis, bed), target, staging, engines, run)
            results.append(done.result)
            files += done.files
            pictures[target] = done.picture
        record = DubRecord(
            input_name=request.input_path.name,
            analysis=analysis,
            results=tuple(results),
            target_files=tuple(files[len(bed.files) :]),
            stem_files=bed.files,
            sound=bed.entry,
            lipsync=pictures,
            engines=_engines(engines, bed, pictures),
            settings=run.settings,
            times=tuple(run.clock.times),
        )
        finished = finish(record, staging)
        # A target equal to the source shares the source's subtitle files: move each path once.
        for path in dict.fromkeys(a.path for a in (*files, *finished.written)):
            (staging / path).replace(request.out_dir / path)
    run.progress(StageProgress(stage="done", done=1, total=1))
    return DubResult(out_dir=request.out_dir, manifest=finished.manifest)


def _engines(
    engines: DubEngines, bed: SoundBed, pictures: dict[str, LipsyncEntry]
) -> dict[str, EngineEntry]:
    """The manifest's engines; the separator only when the dub was mixed over its stems, the
    lip-sync engines only when a picture was redrawn."""
    table = engine_table(engines)
    if bed.stems is not None and engines.separator is not None:
        table["separator"] = engine_entry(engines.separator.info)
    if engines.lipsync is not None and any(p.redrawn for p in pictures.values()):
        table.update(lipsync_engine_table(engines.lipsync))
    return table


def _dub_target(
    request: LocalDub,
    analysed: tuple[SourceAnalysis, SoundBed],
    target: str,
    staging: Path,
    engines: DubEngines,
    run: StepRun,
) -> _TargetDone:
    analysis, bed = analysed
    place = TargetPlace(out_dir=staging, stem=output_stem(request.input_path.name), target=target)
    if not analysis.lines:  # no speech: the source unchanged, with empty subtitles
        passed = passthrough_target(request.input_path, analysis, place)
        produced = [ArtifactEntry(language=target, kind=k, path=p) for k, p in passed.files.items()]
        result = LanguageResult(language=target, route="none", rendered=(), loudness=None)
        skipped = skipped_picture(run.settings, NO_SPEECH).entry
        return _TargetDone(result=result, files=produced, picture=skipped)
    options = SentenceOptions(glossary=request.glossary)
    translator = engines.mt_candidates or engines.mt
    translated = steps.translate_target(analysis, target, translator, run, options)
    speech_track = staging / f".speech.{target}.wav"
    rendered = steps.synthesize_target(analysis, translated, speech_track, engines.tts, run)
    job = PictureJob(
        target=target,
        input_path=request.input_path,
        speech_track=speech_track,
        dialogue=bed.stems.dialogue if bed.stems else None,
        out=staging / f".lipsync.{target}.mp4",
    )
    picture = lipsync_target(
        job, analysis, rendered, engines.lipsync, run, engines.lipsync_unavailable
    )
    sources = TargetSources(
        input_path=request.input_path,
        speech_track=speech_track,
        stems=bed.stems,
        redrawn_video=picture.video,
    )
    outputs = finish_target(sources, analysis, rendered, place, run)
    speech_track.unlink()
    job.out.unlink(missing_ok=True)
    produced = [ArtifactEntry(language=target, kind=k, path=p) for k, p in outputs.files.items()]
    route = steps.route_for(engines.mt, analysis.source_language, target)
    result = LanguageResult(
        language=target, route=route, rendered=rendered, loudness=outputs.loudness
    )
    return _TargetDone(result=result, files=produced, picture=picture.entry)
