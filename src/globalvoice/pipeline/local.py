"""Run the whole dub in one process (the CLI's runner). Outputs appear only when complete."""

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from globalvoice import __version__
from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.errors import OutputNotWritable, UnsupportedLanguage
from globalvoice.domain.media import MediaInfo
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.transcript import (
    SpeechSpan,
    Transcript,
    transcript_from_dict,
    transcript_to_dict,
)
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.pipeline import assemble, cast, ingest, keys, mix, render, segment, transcribe
from globalvoice.pipeline.fit import FitPolicy
from globalvoice.pipeline.manifest import Artifact, LanguageResult, build_manifest
from globalvoice.pipeline.timing import StageClock
from globalvoice.pipeline.translate import check_pairs
from globalvoice.storage.cache import ArtifactCache

__all__ = ["DubEngines", "DubRequest", "DubResult", "check_output_dir", "file_digest", "run_local"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DubEngines:
    vad: VoiceActivityDetector
    stt: SpeechToText
    mt: Translator
    tts: Synthesizer


@dataclass(frozen=True, slots=True, kw_only=True)
class DubRequest:
    input_path: Path
    targets: tuple[str, ...]
    out_dir: Path
    source: str | None = None  # None = detect


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


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _transcript(
    request: DubRequest,
    audio_digest: str,
    speech: tuple[SpeechSpan, ...],
    audio: Any,
    *,
    engines: DubEngines,
    settings: PipelineSettings,
    cache: ArtifactCache,
    progress: ProgressSink,
) -> Transcript:
    key = keys.transcript_key(
        audio_digest, engines.stt.info.fingerprint, request.source, settings.multilingual
    )
    cached = cache.get_json(key)
    if cached is not None:
        return transcript_from_dict(cached)
    result = transcribe.transcribe_speech(
        audio,
        speech,
        stt=engines.stt,
        language=request.source,
        multilingual=settings.multilingual,
        prefer_languages=sorted({source for source, _ in engines.mt.pairs()}),
        progress=progress,
    )
    cache.put_json(key, transcript_to_dict(result))
    return result


def _check_targets(targets: Sequence[str], engines: DubEngines) -> None:
    spoken = set(engines.tts.languages())
    unspeakable = [t for t in targets if t not in spoken]
    if unspeakable:
        raise UnsupportedLanguage(
            f"No offline voice for {', '.join(unspeakable)}. Target languages with a voice: "
            f"{', '.join(sorted(spoken))}. Run `globalvoice languages` for the full list."
        )


def run_local(
    request: DubRequest,
    *,
    engines: DubEngines,
    settings: PipelineSettings,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
) -> DubResult:
    """Dub `request.input_path` into every target; write outputs and manifest.json to out_dir."""
    _check_targets(request.targets, engines)
    if request.source is not None:
        check_pairs([request.source], request.targets, translator=engines.mt)
    check_output_dir(request.out_dir)
    clock = StageClock()
    with clock.stage("probe"):
        info = ingest.probe_input(request.input_path)
        digest = file_digest(request.input_path)
    with clock.stage("extract_audio"):
        audio = ingest.extract_speech_audio(request.input_path, info)
    with clock.stage("vad"):
        speech = transcribe.detect_speech(audio, vad=engines.vad, progress=progress)
    with tempfile.TemporaryDirectory(dir=request.out_dir, prefix=".globalvoice-work-") as work:
        staging = Path(work)
        transcript = Transcript(
            language=request.source or "und", language_probability=0.0, segments=()
        )
        if speech:
            with clock.stage("transcribe"):
                transcript = _transcript(
                    request,
                    digest,
                    speech,
                    audio,
                    engines=engines,
                    settings=settings,
                    cache=cache,
                    progress=progress,
                )
        policy = segment.SegmentPolicy(
            max_line_ms=settings.max_line_ms, pause_split_ms=settings.pause_split_ms
        )
        lines = segment.build_lines(transcript, policy=policy)
        if lines and request.source is None:
            check_pairs([transcript.language], request.targets, translator=engines.mt)
        with clock.stage("cast"):
            voices = cast.cast_voices(audio, lines, tts=engines.tts)
        del audio  # the 16 kHz copy is no longer needed; the mix streams from the source
        stem = request.input_path.stem
        artifacts: list[Artifact] = []
        source_lang = lines[0].language if lines else transcript.language
        base = staging / f"{stem}.{source_lang}"
        assemble.write_subtitles([(ln.start_ms, ln.end_ms, ln.text) for ln in lines], base)
        artifacts += [
            Artifact(language=source_lang, kind="subtitles_srt", path=f"{base.name}.srt"),
            Artifact(language=source_lang, kind="subtitles_vtt", path=f"{base.name}.vtt"),
        ]
        results = []
        for target in request.targets:
            result, produced = _dub_language(
                request,
                info,
                lines,
                voices,
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
            input_digest=digest,
            info=info,
            source_language=transcript.language,
            languages_detected=transcript.languages if lines else (),
            has_speech=bool(lines),
            voices=voices,
            engines=_engine_table(engines),
            settings=settings.model_dump(),
            artifacts=artifacts,
            lines=lines,
            results=results,
            times=clock.times,
        )
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        # A target equal to the source shares the source's subtitle files: move each path once.
        for path in dict.fromkeys([*(a.path for a in artifacts), "manifest.json"]):
            (staging / path).replace(request.out_dir / path)
    progress(StageProgress(stage="done", done=1, total=1))
    return DubResult(out_dir=request.out_dir, manifest=manifest)


def _engine_table(engines: DubEngines) -> dict[str, dict[str, str]]:
    table = {}
    for role, engine in (
        ("vad", engines.vad),
        ("stt", engines.stt),
        ("mt", engines.mt),
        ("tts", engines.tts),
    ):
        table[role] = {
            "name": engine.info.name,
            "model": engine.info.model_id,
            "licence": engine.info.licence,
        }
    return table


def _dub_language(
    request: DubRequest,
    info: MediaInfo,
    lines: Sequence[Any],
    voices: dict[str, Any],
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
    base = staging / f"{stem}.{target}"
    produced: list[Artifact] = []
    if not lines:  # no speech: the source unchanged, with empty subtitles
        copy = _with(base, request.input_path.suffix)
        shutil.copyfile(request.input_path, copy)
        produced.append(
            Artifact(language=target, kind="video" if info.has_video else "audio", path=copy.name)
        )
        assemble.write_subtitles([], base)
        produced += _subtitle_artifacts(target, base)
        return LanguageResult(language=target, route="none", renders=(), loudness=None), produced
    with clock.stage("translate", target):
        translated = render.translate_cached(
            lines, target, translator=engines.mt, cache=cache, progress=progress
        )
    fit_policy = FitPolicy(
        max_tempo_permille=round(settings.max_tempo * 1000), min_gap_ms=settings.min_gap_ms
    )
    with clock.stage("synthesize_fit", target):
        renders = render.render_language(
            translated,
            voices=voices,
            tts=engines.tts,
            policy=fit_policy,
            media_end_ms=info.duration_ms,
            cache=cache,
            progress=progress,
        )
    takes = [r.take for r in renders if r.take is not None]
    with clock.stage("mix", target):
        rate = takes[0].audio.rate_hz if takes else 24_000
        dub_wav, mix_wav = staging / f".dub.{target}.wav", staging / f".mix.{target}.wav"
        mix.write_dub_track(takes, dub_wav, duration_ms=info.duration_ms, rate_hz=rate)
        spans = [(t.start_ms, t.end_ms) for t in takes]
        reading = mix.mix_tracks(
            request.input_path, info, dub_wav, mix_wav, spans_ms=spans, duck_db=settings.duck_db
        )
    with clock.stage("loudness_encode", target):
        gain = settings.loudness_lufs - reading.integrated_lufs
        audio_out = _with(base, ".m4a")
        assemble.encode_audio(
            mix_wav,
            audio_out,
            gain_db=gain,
            true_peak_dbtp=settings.true_peak_dbtp,
            needs_limiter=reading.true_peak_dbtp + gain > settings.true_peak_dbtp,
        )
        measured = assemble.measure_loudness(audio_out)
        speech_out = _with(base, ".speech.flac")
        assemble.encode_speech_stem(dub_wav, speech_out)
        dub_wav.unlink()
        mix_wav.unlink()
    produced.append(Artifact(language=target, kind="audio", path=audio_out.name))
    produced.append(Artifact(language=target, kind="speech_stem", path=speech_out.name))
    if info.has_video:
        with clock.stage("mux", target):
            video_out = _with(base, ".mp4")
            assemble.mux_video(request.input_path, info, audio_out, video_out)
        produced.append(Artifact(language=target, kind="video", path=video_out.name))
    cues = [
        (r.take.start_ms, r.take.end_ms, r.translated.text)
        if r.take is not None
        else (r.translated.line.start_ms, r.translated.line.end_ms, r.translated.text)
        for r in renders
    ]
    assemble.write_subtitles(cues, base)
    produced += _subtitle_artifacts(target, base)
    route = engines.mt.route(lines[0].language, target) if lines[0].language != target else "none"
    return LanguageResult(
        language=target, route=route, renders=renders, loudness=measured
    ), produced


def _subtitle_artifacts(language: str, base: Path) -> list[Artifact]:
    return [
        Artifact(language=language, kind="subtitles_srt", path=f"{base.name}.srt"),
        Artifact(language=language, kind="subtitles_vtt", path=f"{base.name}.vtt"),
    ]


def _with(base: Path, suffix: str) -> Path:
    """`base` + `suffix` ("clip.es" + ".mp4"); Path.with_suffix would replace the ".es"."""
    return base.parent / f"{base.name}{suffix}"
