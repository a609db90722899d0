"""Voice activity detection and transcription with word timestamps."""

from collections.abc import Sequence

from globalvoice.domain.audio import Pcm
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.transcript import SpeechSpan, Transcript
from globalvoice.engines.stt.protocol import SpeechToText
from globalvoice.engines.vad.protocol import VoiceActivityDetector

__all__ = ["detect_speech", "transcribe_speech"]


def detect_speech(
    audio: Pcm, *, vad: VoiceActivityDetector, progress: ProgressSink = NO_PROGRESS
) -> tuple[SpeechSpan, ...]:
    """Speech spans of `audio`; an empty tuple means no speech at all (not an error)."""
    spans = vad.detect(audio)
    progress(StageProgress(stage="vad", done=1, total=1))
    return spans


def transcribe_speech(
    audio: Pcm,
    speech: tuple[SpeechSpan, ...],
    *,
    stt: SpeechToText,
    language: str | None,
    multilingual: bool,
    prefer_languages: Sequence[str] = (),
    progress: ProgressSink = NO_PROGRESS,
) -> Transcript:
    """Transcribe only the speech spans; times in the result are on the source timeline."""
    return stt.transcribe(
        audio,
        speech=speech,
        language=language,
        multilingual=multilingual,
        prefer_languages=prefer_languages,
        progress=progress,
    )
