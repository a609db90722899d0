"""The dub as four steps over serialisable data, shared by the CLI runner and the service workers.

analyse_source -> (per target) translate_target -> synthesize_target -> finish_target. Each step
takes and returns plain typed data (see `stage_codec`); audio and video pass as files, so the
service can run each step on a different worker with only references between them.
"""

import dataclasses
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.errors import UnsupportedLanguage, UserFacingError
from globalvoice.domain.media import MediaInfo
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink
from globalvoice.domain.render import Placement
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.domain.speakers import Diarization
from globalvoice.domain.transcript import Transcript, transcript_from_dict, transcript_to_dict
from globalvoice.domain.voices import VoiceProfile
from globalvoice.dubbing.timing import StageClock
from globalvoice.engines import registry
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.media.loudness import LoudnessReading
from globalvoice.pipeline import keys
from globalvoice.pipeline.analyse import ingest, segment, transcribe
from globalvoice.pipeline.analyse.diarize import diarize_cached
from globalvoice.pipeline.output import assemble, mix
from globalvoice.pipeline.render import synthesize as render
from globalvoice.pipeline.render.choose import choose_for_fit
from globalvoice.pipeline.render.fit_policy import FitPolicy
from globalvoice.pipeline.render.synthesize import RenderedLine
from globalvoice.pipeline.translate.by_sentence import (
    DEFAULT_SENTENCE_OPTIONS,
    SentenceOptions,
    translate_for_dubbing,
)
from globalvoice.pipeline.translate.lines import check_pairs
from globalvoice.pipeline.voices import cast
from globalvoice.pipeline.voices import profiles as voices
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.pipeline.voices.recall import LibraryBinding, LibraryVoice, recall_profiles
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "Placement",
    "RenderedLine",
    "SourceAnalysis",
    "TargetOutputs",
    "analyse_source",
    "check_targets",
    "file_digest",
    "finish_target",
    "passthrough_target",
    "synthesize_target",
    "translate_target",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceAnalysis:
    info: MediaInfo
    digest: str
    transcript_language: str
    languages_detected: tuple[str, ...]
    lines: tuple[Line, ...]
    voices: dict[str, SpeakerVoice]
    diarization: Diarization | None = None  # None only in analyses stored before diarization
    library_voices: dict[str, LibraryVoice] = field(default_factory=dict)  # by speaker id

    @property
    def source_language(self) -> str:
        return self.lines[0].language if self.lines else self.transcript_language


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetOutputs:
    """Files written by finish_target, by artifact kind, relative to its output directory."""

    language: str
    files: dict[str, str]
    loudness: LoudnessReading | None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_targets(targets: Sequence[str], *, tts: Synthesizer) -> None:
    spoken = set(tts.languages())
    unspeakable = [t for t in targets if t not in spoken]
    if unspeakable:
        raise UnsupportedLanguage(
            f"No offline voice for {', '.join(unspeakable)}. Target languages with a voice: "
            f"{', '.join(sorted(spoken))}. Run `globalvoice languages` for the full list."
        )


def analyse_source(
    input_path: Path,
    *,
    source: str | None,
    targets: Sequence[str],
    vad: VoiceActivityDetector,
    stt: SpeechToText,
    translator: Translator,
    tts: Synthesizer,
    settings: PipelineSettings,
    cache: ArtifactCache,
    clock: StageClock,
    progress: ProgressSink = NO_PROGRESS,
    speaker: SpeakerEmbedder | None = None,
    library: LibraryBinding | None = None,
    voice_store: ArtifactCache | None = None,
) -> SourceAnalysis:
    """Probe, extract speech audio, VAD, diarize, transcribe, cut into lines (one speaker each)
    and cast a voice per speaker: with `settings.voice_matching`, a voice profile fitted to them.
    Without `speaker` (the embedder) all speech is one speaker, cast by sex alone.

    With `library` (and voice matching) each speaker's voice is recalled from the voice library
    (`pipeline.recall`): assigned, matched (the stored profile is reused) or added as new.
    `voice_store`: keeps the shipped voices' reference takes across dubs (voices.VoiceBank)."""
    if library is not None and library.assignments and not settings.voice_matching:
        raise UserFacingError("Library voices need voice matching (GV_PIPELINE__VOICE_MATCHING).")
    with clock.stage("probe"):
        info = ingest.probe_input(input_path)
        digest = file_digest(input_path)
    with clock.stage("extract_audio"):
        audio = ingest.extract_speech_audio(input_path, info)
    with clock.stage("vad"):
        speech = transcribe.detect_speech(audio, vad=vad, progress=progress)
    with clock.stage("diarize"):
        speakers = diarize_cached(
            audio,
            speech,
            input_digest=digest,
            vad=vad.info.fingerprint,
            embedder=speaker,
            speakers=settings.speakers,
            cache=cache,
            progress=progress,
        )
    transcript = Transcript(language=source or "und", language_probability=0.0, segments=())
    if speech:
        with clock.stage("transcribe"):
            key = keys.transcript_key(digest, stt.info.fingerprint, source, settings.multilingual)
            cached = cache.get_json(key)
            if cached is not None:
                transcript = transcript_from_dict(cached)
            else:
                transcript = transcribe.transcribe_speech(
                    audio,
                    speech,
                    stt=stt,
                    language=source,
                    multilingual=settings.multilingual,
                    prefer_languages=sorted({s for s, _ in translator.pairs()}),
                    progress=progress,
                )
                cache.put_json(key, transcript_to_dict(transcript))
    policy = segment.SegmentPolicy(
        max_line_ms=settings.max_line_ms, pause_split_ms=settings.pause_split_ms
    )
    lines = segment.build_lines(transcript, policy=policy, speakers=speakers)
    if lines and source is None:
        check_pairs([transcript.language], targets, translator=translator)
    with clock.stage("cast"):
        cast_voices = cast.cast_voices(audio, lines, tts=tts)
    library_voices: dict[str, LibraryVoice] = {}
    if settings.voice_matching and speaker is not None and lines:
        with clock.stage("voice_profiles"):

            def build(subset: Sequence[Line]) -> dict[str, VoiceProfile]:
                return voices.build_profiles(
                    audio,
                    subset,
                    speakers,
                    input_digest=digest,
                    tts=tts,
                    embedder=speaker,
                    cache=cache,
                    progress=progress,
                    store=voice_store,
                    languages=targets,
                )

            if library is None:
                profiles = build(lines)
            else:
                profiles, library_voices = recall_profiles(
                    audio,
                    lines,
                    speakers,
                    speakers=list(cast_voices),
                    embedder=speaker,
                    binding=library,
                    source=library.source or digest,
                    tts=tts.info.fingerprint,
                    build=build,
                )
        cast_voices = {
            sid: dataclasses.replace(voice, profile=profiles.get(sid))
            for sid, voice in cast_voices.items()
        }
    return SourceAnalysis(
        info=info,
        digest=digest,
        transcript_language=transcript.language,
        languages_detected=tuple(transcript.languages) if lines else (),
        lines=lines,
        voices=cast_voices,
        diarization=speakers,
        library_voices=library_voices,
    )


def translate_target(
    analysis: SourceAnalysis,
    target: str,
    *,
    translator: Translator | CandidateTranslator,
    cache: ArtifactCache,
    clock: StageClock,
    progress: ProgressSink = NO_PROGRESS,
    options: SentenceOptions = DEFAULT_SENTENCE_OPTIONS,
) -> tuple[TranslatedLine, ...]:
    """Whole sentences with context, n-best candidates each (pipeline.translate_sentences)."""
    engine = (
        translator
        if isinstance(translator, CandidateTranslator)
        else registry.as_candidate_translator(translator)
    )
    with clock.stage("translate", target):
        return translate_for_dubbing(
            analysis.lines,
            target,
            translator=engine,
            cache=cache,
            options=options,
            progress=progress,
        )


def synthesize_target(
    analysis: SourceAnalysis,
    translated: Sequence[TranslatedLine],
    speech_track: Path,
    *,
    tts: Synthesizer,
    settings: PipelineSettings,
    cache: ArtifactCache,
    clock: StageClock,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[RenderedLine, ...]:
    """Synthesize and fit every line; write the dubbed speech (float WAV) to `speech_track`."""
    target = translated[0].language if translated else None
    policy = FitPolicy.of(settings)
    with clock.stage("choose_candidate", target):
        translated = choose_for_fit(
            translated,
            voices=analysis.voices,
            tts=tts,
            policy=policy,
            media_end_ms=analysis.info.duration_ms,
        )
    with mix.DubTrackWriter(speech_track) as track:
        with clock.stage("synthesize_fit", target):
            # each take goes to the track on disk as it is made: memory stays flat with length
            rendered = render.render_language(
                translated,
                voices=analysis.voices,
                tts=tts,
                policy=policy,
                media_end_ms=analysis.info.duration_ms,
                cache=cache,
                on_take=track.add,
                progress=progress,
            )
        with clock.stage("speech_track", target):
            track.finish(duration_ms=analysis.info.duration_ms)
    return rendered


def finish_target(
    input_path: Path,
    analysis: SourceAnalysis,
    rendered: Sequence[RenderedLine],
    speech_track: Path,
    out_dir: Path,
    *,
    stem: str,
    target: str,
    settings: PipelineSettings,
    clock: StageClock,
) -> TargetOutputs:
    """Mix over the ducked original, normalise loudness, encode, mux and write subtitles.

    Outputs in `out_dir`: <stem>.<target> + ".m4a", ".speech.flac", ".mp4" (with video), ".srt",
    ".vtt".
    """
    base = out_dir / f"{stem}.{target}"
    info = analysis.info
    placements = [r.placement for r in rendered if r.placement is not None]
    files: dict[str, str] = {}
    with clock.stage("mix", target):
        mix_wav = base.parent / f".mix.{base.name}.wav"
        spans = [(p.start_ms, p.end_ms) for p in placements]
        reading = mix.mix_tracks(
            input_path, info, speech_track, mix_wav, spans_ms=spans, duck_db=settings.duck_db
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
        mix_wav.unlink()
        measured = assemble.measure_loudness(audio_out)
        speech_out = _with(base, ".speech.flac")
        assemble.encode_speech_stem(speech_track, speech_out)
    files["audio"] = audio_out.name
    files["speech_stem"] = speech_out.name
    if info.has_video:
        with clock.stage("mux", target):
            video_out = _with(base, ".mp4")
            assemble.mux_video(input_path, info, audio_out, video_out)
        files["video"] = video_out.name
    cues = [
        (r.placement.start_ms, r.placement.end_ms, r.translated.text)
        if r.placement is not None
        else (r.translated.line.start_ms, r.translated.line.end_ms, r.translated.text)
        for r in rendered
    ]
    files.update(write_subtitles(cues, base))
    return TargetOutputs(language=target, files=files, loudness=measured)


def passthrough_target(
    input_path: Path, analysis: SourceAnalysis, out_dir: Path, *, stem: str, target: str
) -> TargetOutputs:
    """No speech to dub: the source unchanged, with empty subtitles."""
    copy = out_dir / f"{stem}.{target}{input_path.suffix}"
    shutil.copyfile(input_path, copy)
    files = {"video" if analysis.info.has_video else "audio": copy.name}
    files.update(write_subtitles([], out_dir / f"{stem}.{target}"))
    return TargetOutputs(language=target, files=files, loudness=None)


def write_subtitles(cues: Sequence[tuple[int, int, str]], base: Path) -> dict[str, str]:
    srt, vtt = assemble.write_subtitles(cues, base)
    return {"subtitles_srt": srt.name, "subtitles_vtt": vtt.name}


def source_cues(analysis: SourceAnalysis) -> list[tuple[int, int, str]]:
    return [(ln.start_ms, ln.end_ms, ln.text) for ln in analysis.lines]


def _with(base: Path, suffix: str) -> Path:
    """`base` + `suffix` ("clip.es" + ".mp4"); Path.with_suffix would replace the ".es"."""
    return base.parent / f"{base.name}{suffix}"
