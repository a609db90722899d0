"""What a probe learns about an input file."""

from dataclasses import dataclass

__all__ = ["MediaInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaInfo:
    container: str
    duration_ms: int
    size_bytes: int
    audio_codec: str
    audio_rate_hz: int
    audio_channels: int
    audio_duration_ms: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None
