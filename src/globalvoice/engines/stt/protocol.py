"""Speech to text with word timestamps."""

from collections.abc import Sequence
from typing import Protocol

from globalvoice.domain.audio import Pcm
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink
from globalvoice.domain.transcript import SpeechSpan, Transcript
from globalvoice.engines.base import EngineInfo

__all__ = ["SpeechToText"]


class SpeechToText(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def supported_languages(self) -> Sequence[str]: ...

    def transcribe(
        self,
        audio: Pcm,
        *,
        speech: Sequence[SpeechSpan],
        language: str | None = None,
        multilingual: bool = True,
        prefer_languages: Sequence[str] = (),
        progress: ProgressSink = NO_PROGRESS,
    ) -> Transcript:
        """Transcribe the `speech` spans of `audio` (16 kHz mono); times are absolute ms.

        `language=None` detects it; `multilingual` labels each segment with its own language.
        When detection is unsure, languages in `prefer_languages` win over others.
        """
        ...
