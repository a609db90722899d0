"""Probe and validate the input, then extract its audio for speech processing."""

from pathlib import Path

from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import MediaUnreadable
from globalvoice.domain.media import MediaInfo
from globalvoice.media.pcm import decode_audio
from globalvoice.media.probe import probe_media

__all__ = ["SPEECH_RATE_HZ", "extract_speech_audio", "probe_input"]

SPEECH_RATE_HZ = 16_000
_TRUNCATION_TOLERANCE = 0.9  # decoded audio shorter than this share of the declared length
_MIN_CHECKED_MS = 2_000


def probe_input(path: Path, *, name: str | None = None) -> MediaInfo:
    """Validate `path` as a dubbable input. Raises UserFacingError subclasses with the fix,
    calling the file `name` (default: its own name)."""
    return probe_media(path, name=name)


def extract_speech_audio(path: Path, info: MediaInfo) -> Pcm:
    """Mono 16 kHz audio of the first audio stream; refuses files that decode much shorter."""
    declared_ms = info.audio_duration_ms
    audio = decode_audio(
        path, rate_hz=SPEECH_RATE_HZ, demuxer=info.container, expected_ms=declared_ms
    )
    if (
        declared_ms
        and declared_ms >= _MIN_CHECKED_MS
        and audio.duration_ms < (declared_ms * _TRUNCATION_TOLERANCE)
    ):
        raise MediaUnreadable(
            f"{path.name} looks truncated: it declares {declared_ms / 1000:.1f} s but only "
            f"{audio.duration_ms / 1000:.1f} s of audio decodes. Re-export or re-download it."
        )
    if audio.duration_ms == 0:
        raise MediaUnreadable(f"{path.name}: the audio track decodes to nothing.")
    return audio
