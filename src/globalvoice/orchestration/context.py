"""What a worker process holds: storage, events, database and the engines its pools need."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from globalvoice.config.settings import Settings
from globalvoice.dubbing.engines import LipsyncEngines, load_lipsync, load_separator
from globalvoice.engines import registry
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import CandidateTranslator
from globalvoice.engines.separation.protocol import Separator
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.storage.blobs import BlobStore
from globalvoice.storage.cache import ArtifactCache
from globalvoice.storage.events import EventBus
from globalvoice.storage.voices import VoiceLibrary, build_voice_library

__all__ = ["WorkerContext"]


@dataclass
class WorkerContext:
    settings: Settings
    store: BlobStore
    sessions: sessionmaker[Session]
    events: EventBus
    scratch_dir: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _vad: VoiceActivityDetector | None = None
    _stt: SpeechToText | None = None
    _mt: Translator | None = None
    _tts: Synthesizer | None = None
    _speaker: SpeakerEmbedder | None = None
    _mt_candidates: CandidateTranslator | None = None
    _voices: VoiceLibrary | None = None
    _separator: tuple[Separator | None, str] | None = None
    _lipsync: tuple[LipsyncEngines | None, str] | None = None

    @property
    def cache(self) -> ArtifactCache:
        return ArtifactCache(self.store)

    # Engines load on first use, so a worker loads only what its pools run.
    def vad(self) -> VoiceActivityDetector:
        with self._lock:
            if self._vad is None:
                self._vad = registry.build_vad(self.settings)
            return self._vad

    def stt(self) -> SpeechToText:
        with self._lock:
            if self._stt is None:
                self._stt = registry.build_stt(self.settings)
            return self._stt

    def mt(self) -> Translator:
        with self._lock:
            if self._mt is None:
                self._mt = registry.build_mt(self.settings)
            return self._mt

    def speaker(self) -> SpeakerEmbedder:
        with self._lock:
            if self._speaker is None:
                self._speaker = registry.build_speaker(self.settings)
            return self._speaker

    def mt_candidates(self) -> CandidateTranslator:
        with self._lock:
            if self._mt_candidates is None:
                self._mt_candidates = registry.build_candidate_mt(self.settings)
            return self._mt_candidates

    def voices(self) -> VoiceLibrary:
        """The tenants' voice library (pgvector or SQLite, as the service settings say)."""
        with self._lock:
            if self._voices is None:
                self._voices = build_voice_library(self.settings.service, self.store)
            return self._voices

    def close(self) -> None:
        with self._lock:
            if self._voices is not None:
                self._voices.close()
                self._voices = None

    def separator(self) -> tuple[Separator | None, str]:
        """The separation engine, or None and why it cannot run (the dub then ducks)."""
        with self._lock:
            if self._separator is None:  # whatever the default mode: a dub may ask for it
                self._separator = load_separator(self.settings)
            return self._separator

    def lipsync(self) -> tuple[LipsyncEngines | None, str]:
        """The mouth engine and MediaPipe, or None and why they cannot run (the picture is then
        copied, or, with lip-sync "on", the dub fails)."""
        with self._lock:
            if self._lipsync is None:  # whatever the default mode: a dub may ask for it
                self._lipsync = load_lipsync(self.settings)
            return self._lipsync

    def tts(self) -> Synthesizer:
        with self._lock:
            if self._tts is None:
                self._tts = registry.build_tts(self.settings)
            return self._tts
