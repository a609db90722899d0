"""Builds engines from configuration. The only module that imports engine implementations."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from globalvoice.config.settings import LipsyncConfig, Settings
from globalvoice.engines.face.protocol import FaceLandmarker
from globalvoice.engines.lipsync.protocol import MouthEngine
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.separation.protocol import Separator
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector

__all__ = [
    "as_candidate_translator",
    "bergamot_candidate_mt",
    "build_candidate_mt",
    "build_face_mesh",
    "build_lipsync",
    "build_mt",
    "build_separator",
    "build_speaker",
    "build_stt",
    "build_tts",
    "build_vad",
    "tts_languages",
]


def _faster_whisper(config: Any, cache_dir: Path) -> SpeechToText:
    from globalvoice.engines.stt.faster_whisper import FasterWhisperSTT

    return FasterWhisperSTT(config, cache_dir=cache_dir)


def _embedded_mt(_config: Any, _cache_dir: Path) -> Translator:
    from globalvoice.engines.mt.embedded import EmbeddedTranslator

    return EmbeddedTranslator()


def _ctranslate2_mt(config: Any, _cache_dir: Path) -> Translator:
    from globalvoice.engines.mt.ctranslate2 import CTranslate2Translator

    return CTranslate2Translator(config)


def _llm_mt(config: Any, _cache_dir: Path) -> Translator:
    from globalvoice.engines.mt.llm import LlmTranslator

    return LlmTranslator(config)


def _kokoro(config: Any, cache_dir: Path) -> Synthesizer:
    from globalvoice.engines.tts.kokoro import KokoroSynthesizer

    return KokoroSynthesizer(config, cache_dir=cache_dir)


def _voicefilter(config: Any, _cache_dir: Path) -> SpeakerEmbedder:
    from globalvoice.engines.speaker.voicefilter import VoiceFilterEmbedder

    return VoiceFilterEmbedder(config)


_STT: dict[str, Callable[[Any, Path], SpeechToText]] = {"stt.faster_whisper": _faster_whisper}
_MT: dict[str, Callable[[Any, Path], Translator]] = {
    "mt.embedded": _embedded_mt,
    "mt.ctranslate2": _ctranslate2_mt,
    "mt.llm": _llm_mt,
}
_TTS: dict[str, Callable[[Any, Path], Synthesizer]] = {"tts.kokoro": _kokoro}
_SPEAKER: dict[str, Callable[[Any, Path], SpeakerEmbedder]] = {"speaker.voicefilter": _voicefilter}


def build_stt(settings: Settings) -> SpeechToText:
    return _STT[settings.stt.kind](settings.stt, settings.cache_dir)


def build_mt(settings: Settings) -> Translator:
    return _MT[settings.mt.kind](settings.mt, settings.cache_dir)


def build_candidate_mt(settings: Settings) -> CandidateTranslator:
    """The configured MT engine behind the rich request API (engines.mt.requests): engines that
    take no instructions get their glossary enforced with placeholders (engines.mt.glossary)."""
    translator = build_mt(settings)
    if settings.mt.kind == "mt.embedded":
        from globalvoice.engines.mt.bergamot import BergamotCandidateTranslator
        from globalvoice.engines.mt.embedded import EmbeddedTranslator
        from globalvoice.engines.mt.embedded_candidates import EmbeddedCandidateTranslator

        if isinstance(translator, EmbeddedTranslator):
            translator = EmbeddedCandidateTranslator(translator, BergamotCandidateTranslator())
    return as_candidate_translator(translator)


def as_candidate_translator(translator: Translator) -> CandidateTranslator:
    from globalvoice.engines.mt.glossary import GlossaryEnforcer
    from globalvoice.engines.mt.requests import SingleCandidate

    engine = (
        translator if isinstance(translator, CandidateTranslator) else SingleCandidate(translator)
    )
    return engine if engine.capabilities.glossary else GlossaryEnforcer(engine)


def bergamot_candidate_mt() -> CandidateTranslator:
    """The shipped en<->pt Bergamot students with beam search and n-best candidates
    (engines.mt.bergamot, numpy decoder), glossary enforced."""
    from globalvoice.engines.mt.bergamot import BergamotCandidateTranslator

    return as_candidate_translator(BergamotCandidateTranslator())


def build_tts(settings: Settings) -> Synthesizer:
    return _TTS[settings.tts.kind](settings.tts, settings.cache_dir)


def build_speaker(settings: Settings) -> SpeakerEmbedder:
    return _SPEAKER[settings.speaker.kind](settings.speaker, settings.cache_dir)


def build_separator(settings: Settings) -> Separator:
    """The configured dialogue/background separator (pipeline.separation says whether to use
    it). A model that is missing or malformed fails here, at start-up, with what to do."""
    config = settings.separator
    if config.kind == "separation.onnx":
        from globalvoice.engines.separation.onnx_model import OnnxSeparator

        return OnnxSeparator(config)
    from globalvoice.engines.separation.deepfilter import DeepFilterSeparator

    return DeepFilterSeparator(config)


def build_lipsync(config: LipsyncConfig) -> MouthEngine:
    """The configured mouth engine (pipeline.lipsync says whether to use it). A model that is
    missing or malformed fails here, at start-up, with what to do."""
    if config.kind == "lipsync.onnx":
        from globalvoice.engines.lipsync.onnx_model import OnnxMouthEngine

        return OnnxMouthEngine(config)
    from globalvoice.engines.lipsync.patch import PatchMouthEngine

    return PatchMouthEngine(config)


def build_face_mesh(max_faces: int) -> FaceLandmarker:
    """MediaPipe's face mesh following up to `max_faces` faces. Raises ModelNotAvailable when
    MediaPipe is not installed."""
    from globalvoice.engines.face.mediapipe_mesh import MediaPipeFaceMesh

    return MediaPipeFaceMesh(max_faces=max_faces)


def build_vad(_settings: Settings) -> VoiceActivityDetector:
    from globalvoice.engines.vad.silero import SileroVad

    return SileroVad()


def tts_languages(settings: Settings) -> frozenset[str]:
    """The languages the configured TTS speaks, known without loading its weights."""
    if settings.tts.kind == "tts.kokoro":
        from globalvoice.engines.tts.kokoro import KOKORO_LANGUAGES

        return frozenset(KOKORO_LANGUAGES)
    return frozenset(build_tts(settings).languages())
