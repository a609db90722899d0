"""Text to speech with a speed control."""

from collections.abc import Sequence
from typing import Protocol

from globalvoice.domain.audio import Pcm
from globalvoice.engines.base import EngineInfo

__all__ = ["Synthesizer"]


class Synthesizer(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def languages(self) -> Sequence[str]: ...

    def voice_for(self, *, is_female: bool) -> str:
        """A voice name of the requested sex."""
        ...

    def synthesize(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> Pcm:
        """Speak `text`; `speed_permille` 1000 is the voice's natural rate, 1300 is 1.3x faster."""
        ...
