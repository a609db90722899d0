"""The engines a dub runs with, built from configuration, and the manifest's table of them."""

from dataclasses import dataclass

from globalvoice.config.settings import Settings
from globalvoice.domain.errors import ModelNotAvailable, UserFacingError
from globalvoice.dubbing.manifest import EngineEntry
from globalvoice.engines import registry
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.face.protocol import FaceLandmarker
from globalvoice.engines.lipsync.protocol import MouthEngine
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.separation.protocol import Separator
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.storage import layout
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "DubEngines",
    "LipsyncEngines",
    "build_engines",
    "build_lipsync",
    "build_separator",
    "engine_entry",
    "engine_table",
    "load_lipsync",
    "load_separator",
    "voice_store",
]

# Faces followed in the source: a few speakers in view at once. The output is measured on the
# redrawn face's own box, where there is one face.
_TRACKED_FACES = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class LipsyncEngines:
    """What the lipsync stage runs with: the mouth engine and two face landmarkers (each keeps
    its own tracking state: one follows the source, one measures the redrawn faces)."""

    engine: MouthEngine
    landmarker: FaceLandmarker
    measure: FaceLandmarker


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
    # splits the source into dialogue and background (None: the source is ducked instead;
    # `separator_unavailable` then says why, when separation was wanted)
    separator: Separator | None = None
    separator_unavailable: str = ""
    # redraws the speaking faces (None: the picture is copied; `lipsync_unavailable` then says
    # why, when lip-sync was wanted)
    lipsync: LipsyncEngines | None = None
    lipsync_unavailable: str = ""


def voice_store(settings: Settings) -> ArtifactCache:
    """Where derived model data is kept across dubs (next to the assembled models)."""
    return ArtifactCache(LocalBlobStore(settings.cache_dir), prefix=layout.VOICE_BANK_PREFIX)


def load_separator(settings: Settings) -> tuple[Separator | None, str]:
    """The configured separator, or None and why it cannot run (a dub then ducks)."""
    try:
        return registry.build_separator(settings), ""
    except UserFacingError as err:
        return None, f"separation unavailable: {err.user_message}"


def build_separator(settings: Settings) -> tuple[Separator | None, str]:
    """The separator the settings ask for, or None and why not. With separation "auto" an
    engine that cannot load means ducking (said in the manifest); with "on" it is an error."""
    mode = settings.pipeline.separation
    if mode == "off":
        return None, ""
    if mode == "on":
        return registry.build_separator(settings), ""
    return load_separator(settings)


def _lipsync_engines(settings: Settings) -> LipsyncEngines:
    return LipsyncEngines(
        engine=registry.build_lipsync(settings.lipsync),
        landmarker=registry.build_face_mesh(_TRACKED_FACES),
        measure=registry.build_face_mesh(1),
    )


def load_lipsync(settings: Settings) -> tuple[LipsyncEngines | None, str]:
    """The configured mouth engine and MediaPipe, or None and why they cannot run (a dub then
    keeps the source's picture)."""
    try:
        return _lipsync_engines(settings), ""
    except ModelNotAvailable as err:
        return None, f"lip-sync unavailable: {err.user_message}"


def build_lipsync(settings: Settings) -> tuple[LipsyncEngines | None, str]:
    """The lip-sync engines the settings ask for, or None and why not. With lip-sync "auto" an
    engine or MediaPipe that cannot load means the picture is copied (said in the manifest);
    with "on" it is an error."""
    mode = settings.pipeline.lipsync
    if mode == "off":
        return None, ""
    if mode == "on":
        return _lipsync_engines(settings), ""
    return load_lipsync(settings)


def build_engines(settings: Settings) -> DubEngines:
    """Every engine the configuration names, loaded (the CLI's one-process dub)."""
    separator, unavailable = build_separator(settings)
    lipsync, lipsync_unavailable = build_lipsync(settings)
    return DubEngines(
        separator=separator,
        separator_unavailable=unavailable,
        lipsync=lipsync,
        lipsync_unavailable=lipsync_unavailable,
        vad=registry.build_vad(settings),
        stt=registry.build_stt(settings),
        mt=registry.build_mt(settings),
        tts=registry.build_tts(settings),
        mt_candidates=registry.build_candidate_mt(settings),
        speaker=registry.build_speaker(settings),
        voice_store=voice_store(settings),
    )


def engine_entry(info: EngineInfo) -> EngineEntry:
    return EngineEntry(name=info.name, model=info.model_id, licence=info.licence)


def engine_table(engines: DubEngines) -> dict[str, EngineEntry]:
    """The manifest's engines by role: vad, stt, mt, tts and speaker (when there is one)."""
    roles: dict[str, EngineInfo] = {
        "vad": engines.vad.info,
        "stt": engines.stt.info,
        "mt": engines.mt.info,
        "tts": engines.tts.info,
    }
    if engines.speaker is not None:
        roles["speaker"] = engines.speaker.info
    return {role: engine_entry(info) for role, info in roles.items()}
