"""Voice activity detection."""

from typing import Protocol

from globalvoice.domain.audio import Pcm
from globalvoice.domain.transcript import SpeechSpan
from globalvoice.engines.base import EngineInfo

__all__ = ["VoiceActivityDetector"]


class VoiceActivityDetector(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def detect(self, audio: Pcm) -> tuple[SpeechSpan, ...]:
        """Speech spans in `audio` (16 kHz mono), in ms, sorted and non-overlapping."""
        ...
