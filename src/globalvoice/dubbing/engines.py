"""The engines a dub runs with, built from configuration, and the manifest's table of them."""

from dataclasses import dataclass

from globalvoice.config.settings import Settings
from globalvoice.dubbing.manifest import EngineEntry
from globalvoice.engines import registry
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.storage import layout
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.cache import ArtifactCache

__all__ = ["DubEngines", "build_engines", "engine_entry", "engine_table", "voice_store"]


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


def voice_store(settings: Settings) -> ArtifactCache:
    """Where derived model data is kept across dubs (next to the assembled models)."""
    return ArtifactCache(LocalBlobStore(settings.cache_dir), prefix=layout.VOICE_BANK_PREFIX)


def build_engines(settings: Settings) -> DubEngines:
    """Every engine the configuration names, loaded (the CLI's one-process dub)."""
    return DubEngines(
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
