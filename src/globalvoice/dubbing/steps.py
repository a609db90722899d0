"""The dub as steps over serialisable data, shared by the CLI runner and the service workers.

analyse_source -> (per target) translate_target -> synthesize_target -> outputs.finish_target,
then finish.finish. Each step takes and returns plain typed data (see `codec`); audio and video
pass as files, so the service can run each step on a different worker with only references
between them.
"""

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter

from globalvoice.config.settings import PipelineSettings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import UnsupportedLanguage, UserFacingError
from globalvoice.domain.media import MediaInfo
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink
from globalvoice.domain.render import Placement
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.domain.speakers import Diarization
from globalvoice.domain.transcript import (
    SpeechSpan,
    Transcript,
)
from globalvoice.domain.voices import VoiceProfile
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.timing import StageClock
from globalvoice.engines import registry
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.pipeline import keys
from globalvoice.pipeline.analyse import ingest, segment, transcribe
from globalvoice.pipeline.analyse.diarize import diarize_cached
from globalvoice.pipeline.output import mix
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
from globalvoice.pipeline.voices.recall import (
    LibraryBinding,
    LibraryVoice,
    RecallScope,
    recall_profiles,
)
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "AnalysisPlan",
    "Placement",
    "RenderedLine",
    "SourceAnalysis",
    "StepRun",
    "analyse_source",
    "check_targets",
    "file_digest",
    "route_for",
    "synthesize_target",
    "translate_target",
]

_TRANSCRIPT = TypeAdapter(Transcript)


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
class StepRun:
    """What every step runs with: the pipeline settings, the artifact cache, the stage clock
    and where progress goes."""

    settings: PipelineSettings
    cache: ArtifactCache
    clock: StageClock = field(default_factory=StageClock)
    progress: ProgressSink = NO_PROGRESS


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisPlan:
    """What the analysis is for: the source language (None: detect), the targets (their pairs
    and voices are checked) and the voice library the speakers are recalled from (None: none)."""

    source: str | None
    targets: tuple[str, ...]
    library: LibraryBinding | None = None


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


def route_for(translator: Translator, source: str, target: str) -> str:
    """How `source` becomes `target` for the manifest ('none': kept in its own language)."""
    return translator.route(source, target) if source != target else "none"


def analyse_source(
    input_path: Path, plan: AnalysisPlan, engines: DubEngines, run: StepRun
) -> SourceAnalysis:
    """Probe, extract speech audio, VAD, diarize, transcribe, cut into lines (one speaker each)
    and cast a voice per speaker: with `settings.voice_matching`, a voice profile fitted to them.
    Without a speaker embedder all speech is one speaker, cast by sex alone.

    With `plan.library` (and voice matching) each speaker's voice is recalled from the voice
    library (`pipeline.voices.recall`): assigned, matched (the stored profile is reused) or
    added as new. `engines.voice_store` keeps the shipped voices' reference takes across dubs."""
    settings, clock = run.settings, run.clock
    library = plan.library
    if library is not None and library.assignments and not settings.voice_matching:
        raise UserFacingError("Library voices need voice matching (GV_PIPELINE__VOICE_MATCHING).")
    with clock.stage("probe"):
        info = ingest.probe_input(input_path)
        digest = file_digest(input_path)
    with clock.stage("extract_audio"):
        audio = ingest.extract_speech_audio(input_path, info)
    with clock.stage("vad"):
        speech = transcribe.detect_speech(audio, vad=engines.vad, progress=run.progress)
    with clock.stage("diarize"):
        speakers = diarize_cached(
            audio,
            speech,
            input_digest=digest,
            vad=engines.vad.info.fingerprint,
            embedder=engines.speaker,
            speakers=settings.speakers,
            cache=run.cache,
            progress=run.progress,
        )
    transcript = Transcript(language=plan.source or "und", language_probability=0.0, segments=())
    if speech:
        with clock.stage("transcribe"):
            transcript = _transcribe(audio, speech, digest, plan, engines, run)
    policy = segment.SegmentPolicy(
        max_line_ms=settings.max_line_ms, pause_split_ms=settings.pause_split_ms
    )
    lines = segment.build_lines(transcript, policy=policy, speakers=speakers)
    if lines and plan.source is None:
        check_pairs([transcript.language], plan.targets, translator=engines.mt)
    with clock.stage("cast"):
        cast_voices = cast.cast_voices(audio, lines, tts=engines.tts)
    library_voices: dict[str, LibraryVoice] = {}
    if settings.voice_matching and engines.speaker is not None and lines:
        with clock.stage("voice_profiles"):
            heard = _Heard(audio=audio, lines=lines, speakers=speakers, digest=digest)
            profiles, library_voices = _profiles(heard, list(cast_voices), plan, engines, run)
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


def _transcribe(
    audio: Pcm,
    speech: tuple[SpeechSpan, ...],
    digest: str,
    plan: AnalysisPlan,
    engines: DubEngines,
    run: StepRun,
) -> Transcript:
    multilingual = run.settings.multilingual
    key = keys.transcript_key(digest, engines.stt.info.fingerprint, plan.source, multilingual)
    cached = run.cache.get_model(key, _TRANSCRIPT)
    if cached is not None:
        return cached
    transcript = transcribe.transcribe_speech(
        audio,
        speech,
        stt=engines.stt,
        language=plan.source,
        multilingual=multilingual,
        prefer_languages=sorted({s for s, _ in engines.mt.pairs()}),
        progress=run.progress,
    )
    run.cache.put_model(key, transcript, _TRANSCRIPT)
    return transcript


@dataclass(frozen=True, slots=True, kw_only=True)
class _Heard:
    """The analysed speech a voice profile is fitted to."""

    audio: Pcm
    lines: tuple[Line, ...]
    speakers: Diarization
    digest: str


def _profiles(
    heard: _Heard,
    speaker_ids: list[str],
    plan: AnalysisPlan,
    engines: DubEngines,
    run: StepRun,
) -> tuple[dict[str, VoiceProfile], dict[str, LibraryVoice]]:
    embedder = engines.speaker
    if embedder is None:
        raise ValueError("voice profiles need a speaker embedder")

    def build(subset: Sequence[Line]) -> dict[str, VoiceProfile]:
        return voices.build_profiles(
            heard.audio,
            subset,
            heard.speakers,
            input_digest=heard.digest,
            tools=voices.ProfileTools(
                tts=engines.tts, embedder=embedder, cache=run.cache, store=engines.voice_store
            ),
            progress=run.progress,
            languages=plan.targets,
        )

    if plan.library is None:
        return build(heard.lines), {}
    return recall_profiles(
        heard.audio,
        heard.lines,
        heard.speakers,
        scope=RecallScope(
            binding=plan.library,
            speakers=speaker_ids,
            source=plan.library.source or heard.digest,
            tts=engines.tts.info.fingerprint,
        ),
        embedder=embedder,
        build=build,
    )


def translate_target(
    analysis: SourceAnalysis,
    target: str,
    translator: Translator | CandidateTranslator,
    run: StepRun,
    options: SentenceOptions = DEFAULT_SENTENCE_OPTIONS,
) -> tuple[TranslatedLine, ...]:
    """Whole sentences with context, n-best candidates each (pipeline.translate.by_sentence)."""
    engine = (
        translator
        if isinstance(translator, CandidateTranslator)
        else registry.as_candidate_translator(translator)
    )
    with run.clock.stage("translate", target):
        return translate_for_dubbing(
            analysis.lines,
            target,
            translator=engine,
            cache=run.cache,
            options=options,
            progress=run.progress,
        )


def synthesize_target(
    analysis: SourceAnalysis,
    translated: Sequence[TranslatedLine],
    speech_track: Path,
    tts: Synthesizer,
    run: StepRun,
) -> tuple[RenderedLine, ...]:
    """Synthesize and fit every line; write the dubbed speech (float WAV) to `speech_track`."""
    target = translated[0].language if translated else None
    policy = FitPolicy.of(run.settings)
    clock = run.clock
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
                cache=run.cache,
                on_take=track.add,
                progress=run.progress,
            )
        with clock.stage("speech_track", target):
            track.finish(duration_ms=analysis.info.duration_ms)
    return rendered
