"""Text to speech with a speed control and a duration prediction."""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import TimedPhoneme
from globalvoice.engines.base import EngineInfo

__all__ = ["PhonemeTimer", "Synthesizer"]


class Synthesizer(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    @property
    def parallel_lines(self) -> int:
        """How many `synthesize` calls are worth running at once, from as many threads."""
        ...

    def languages(self) -> Sequence[str]: ...

    def voice_for(self, *, is_female: bool) -> str:
        """A voice name of the requested sex."""
        ...

    def voices(self) -> Sequence[str]:
        """The shipped voice names. `voice` arguments also take a convex blend of them,
        spelled as `domain.voices.VoiceBlend.spec` ("jf_alpha*0.700+jm_kumo*0.300")."""
        ...

    def synthesize(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> Pcm:
        """Speak `text`; `speed_permille` 1000 is the voice's natural rate, 1300 is 1.3x faster.

        Safe to call from `parallel_lines` threads at once."""
        ...

    def estimate_ms(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> int:
        """How long `synthesize` with these arguments would take, predicted without running it
        (a small fraction of its cost). Monotone: never longer at a higher speed."""
        ...


@runtime_checkable
class PhonemeTimer(Protocol):
    """A synthesizer that can tell when each phoneme of a take is spoken."""

    def phoneme_times(self, text: str, *, voice: str, language: str) -> tuple[TimedPhoneme, ...]:
        """The phonemes of `synthesize(text, voice=..., language=...)` at speed 1, in order,
        with times in ms from the start of the audio it returns (pauses between its parts
        included). Only phonemes: word gaps, punctuation and stress marks are left out, so
        the time between two phonemes may belong to neither."""
        ...
