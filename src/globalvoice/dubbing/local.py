"""Run the whole dub in one process (the CLI's runner). Outputs appear only when complete."""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from globalvoice import __version__
from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.errors import OutputNotWritable
from globalvoice.domain.glossary import GlossaryEntry
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.dubbing import steps as dub
from globalvoice.dubbing.manifest import Artifact, LanguageResult, build_manifest
from globalvoice.dubbing.timing import StageClock
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.pipeline.translate.by_sentence import SentenceOptions
from globalvoice.pipeline.translate.lines import check_pairs
from globalvoice.pipeline.voices.recall import LibraryBinding
from globalvoice.storage.cache import ArtifactCache

__all__ = ["DubEngines", "DubRequest", "DubResult", "check_output_dir", "engine_table", "run_local"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DubEngines:
    vad: VoiceActivityDetector
    stt: SpeechToText
    mt: Translator
    mt_candidates: CandidateTranslator | None = None  # n-best; None: `mt`, one candidate
    tts: Synthesizer
    speaker: SpeakerEmbedder | None = None  # None: every input is one speaker
    # derived model data kept across dubs, even with the artifact cache off: the shipped
    # voices' reference takes the voice search compares (None: the artifact cache only)
    voice_store: ArtifactCache | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DubRequest:
    input_path: Path
    targets: tuple[str, ...]
    out_dir: Path
    source: str | None = None  # None = detect
    glossary: tuple[GlossaryEntry, ...] = ()  # terms kept or translated one fixed way


@dataclass(frozen=True, slots=True, kw_only=True)
class DubResult:
    out_dir: Path
    manifest: dict[str, Any]


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


def run_local(
    request: DubRequest,
    *,
    engines: DubEngines,
    settings: PipelineSettings,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
    library: LibraryBinding | None = None,
) -> DubResult:
    """Dub `request.input_path` into every target; write outputs and manifest.json to out_dir.

    With `library` (and voice matching) speakers keep their voices across videos: see
    `pipeline.recall`; the CLI passes the embedded library (tenant "local")."""
    dub.check_targets(request.targets, tts=engines.tts)
    if request.source is not None:
        check_pairs([request.source], request.targets, translator=engines.mt)
    check_output_dir(request.out_dir)
    clock = StageClock()
    analysis = dub.analyse_source(
        request.input_path,
        source=request.source,
        targets=request.targets,
        vad=engines.vad,
        stt=engines.stt,
        translator=engines.mt,
        tts=engines.tts,
        settings=settings,
        cache=cache,
        clock=clock,
        progress=progress,
        speaker=engines.speaker,
        library=library,
        voice_store=engines.voice_store,
    )
    with tempfile.TemporaryDirectory(dir=request.out_dir, prefix=".globalvoice-work-") as work:
        staging = Path(work)
        stem = request.input_path.stem
        source_lang = analysis.source_language
        files = dub.write_subtitles(dub.source_cues(analysis), staging / f"{stem}.{source_lang}")
        artifacts = [Artifact(language=source_lang, kind=k, path=p) for k, p in files.items()]
        results = []
        for target in request.targets:
            result, produced = _dub_target(
                request,
                analysis,
                target,
                staging,
                engines=engines,
                settings=settings,
                cache=cache,
                clock=clock,
                progress=progress,
            )
            results.append(result)
            artifacts += produced
        manifest = build_manifest(
            version=__version__,
            input_name=request.input_path.name,
            input_digest=analysis.digest,
            info=analysis.info,
            source_language=analysis.transcript_language,
            languages_detected=analysis.languages_detected,
            has_speech=bool(analysis.lines),
            voices=analysis.voices,
            engines=engine_table(engines),
            settings=settings.model_dump(),
            artifacts=artifacts,
            lines=analysis.lines,
            results=results,
            times=clock.times,
            diarization=analysis.diarization,
            library_voices=analysis.library_voices,
        )
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        # A target equal to the source shares the source's subtitle files: move each path once.
        for path in dict.fromkeys([*(a.path for a in artifacts), "manifest.json"]):
            (staging / path).replace(request.out_dir / path)
    progress(StageProgress(stage="done", done=1, total=1))
    return DubResult(out_dir=request.out_dir, manifest=manifest)


def engine_table(engines: DubEngines) -> dict[str, dict[str, str]]:
    table = {}
    roles: list[tuple[str, Any]] = [
        ("vad", engines.vad),
        ("stt", engines.stt),
        ("mt", engines.mt),
        ("tts", engines.tts),
    ]
    if engines.speaker is not None:
        roles.append(("speaker", engines.speaker))
    for role, engine in roles:
        table[role] = {
            "name": engine.info.name,
            "model": engine.info.model_id,
            "licence": engine.info.licence,
        }
    return table


def _dub_target(
    request: DubRequest,
    analysis: dub.SourceAnalysis,
    target: str,
    staging: Path,
    *,
    engines: DubEngines,
    settings: PipelineSettings,
    cache: ArtifactCache,
    clock: StageClock,
    progress: ProgressSink,
) -> tuple[LanguageResult, list[Artifact]]:
    stem = request.input_path.stem
    if not analysis.lines:  # no speech: the source unchanged, with empty subtitles
        passed = dub.passthrough_target(
            request.input_path, analysis, staging, stem=stem, target=target
        )
        produced = [Artifact(language=target, kind=k, path=p) for k, p in passed.files.items()]
        return LanguageResult(language=target, route="none", rendered=(), loudness=None), produced
    translated = dub.translate_target(
        analysis,
        target,
        translator=engines.mt_candidates or engines.mt,
        cache=cache,
        clock=clock,
        progress=progress,
        options=SentenceOptions(glossary=request.glossary),
    )
    speech_track = staging / f".speech.{target}.wav"
    rendered = dub.synthesize_target(
        analysis,
        translated,
        speech_track,
        tts=engines.tts,
        settings=settings,
        cache=cache,
        clock=clock,
        progress=progress,
    )
    outputs = dub.finish_target(
        request.input_path,
        analysis,
        rendered,
        speech_track,
        staging,
        stem=stem,
        target=target,
        settings=settings,
        clock=clock,
    )
    speech_track.unlink()
    produced = [Artifact(language=target, kind=k, path=p) for k, p in outputs.files.items()]
    source = analysis.source_language
    route = engines.mt.route(source, target) if source != target else "none"
    return LanguageResult(
        language=target, route=route, rendered=rendered, loudness=outputs.loudness
    ), produced
