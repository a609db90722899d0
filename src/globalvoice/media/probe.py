"""Probe an input safely: refuse text playlists and reference formats before any demuxer runs."""

from pathlib import Path

from globalvoice.domain.errors import MediaUnreadable, NoAudioTrack, UnsafeMedia
from globalvoice.domain.media import MediaInfo

__all__ = ["SAFE_DEMUXERS", "probe_media"]

# Demuxers that read only the bytes of the file itself. Playlists (hls, concat, dash), image
# sequences and stream descriptions (sdp, rtp) are refused: they name other files or URLs.
SAFE_DEMUXERS = frozenset(
    {
        "mov",
        "mp4",
        "m4a",
        "3gp",
        "3g2",
        "mj2",
        "matroska",
        "webm",
        "avi",
        "mpeg",
        "mpegts",
        "mpegvideo",
        "flv",
        "asf",
        "wav",
        "w64",
        "flac",
        "ogg",
        "mp3",
        "aac",
        "ac3",
        "eac3",
        "aiff",
        "caf",
        "wv",
        "ape",
        "mxf",
        "nut",
        "dv",
        "amr",
        "au",
        "tta",
        "opus",
        "oga",
    }
)
_TEXT_SIGNATURES = (b"#EXTM3U", b"ffconcat", b"file ", b"[playlist]", b"<?xml", b"<MPD", b"v=0")


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    if any(head.lstrip().startswith(sig) for sig in _TEXT_SIGNATURES):
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _is_truncated_riff(head: bytes, size: int) -> bool:
    """WAV/AVI declare their total size up front; ffmpeg silently estimates around a cut file."""
    if len(head) < 12 or head[:4] != b"RIFF":
        return False
    declared = int.from_bytes(head[4:8], "little") + 8
    return declared != 0xFFFFFFFF + 8 and declared > size * 1.01


def probe_media(path: Path, *, name: str | None = None) -> MediaInfo:
    """Read container and stream facts. Raises a UserFacingError naming what is wrong, calling
    the file `name` (default: its own name; the API gives the user's name of a scratch copy).

    The duration is the container's and the audio stream's as their headers declare them:
    nothing is decoded, so an input too long to dub is refused from here at no cost."""
    shown, given = name or path.name, name or str(path)
    path = path.absolute()  # "take:2.mp4" is a file, never an ffmpeg protocol
    if not path.exists():
        raise MediaUnreadable(f"{given} does not exist: check the path.")
    if not path.is_file():
        raise MediaUnreadable(f"{given} is not a regular file: give a video or audio file.")
    size = path.stat().st_size
    if size == 0:
        raise MediaUnreadable(f"{shown} is empty (0 bytes).")
    with path.open("rb") as handle:
        head = handle.read(4096)
    if _looks_like_text(head):
        raise UnsafeMedia(
            f"{shown} is a text file (a playlist, concat list or subtitle?), not media. "
            "Give the video or audio file itself; GlobalVoice never follows files or URLs "
            "that an input names."
        )
    if _is_truncated_riff(head, size):
        raise MediaUnreadable(
            f"{shown} is truncated: its header declares more data than the file holds. "
            "Re-export or re-download it."
        )
    import av

    try:
        with av.open(str(path), options={"protocol_whitelist": "file"}) as container:
            demuxers = set(container.format.name.split(","))
            if not demuxers & SAFE_DEMUXERS:
                raise UnsafeMedia(
                    f"{shown} is in the {container.format.name!r} format, which can refer to "
                    "other files or URLs; convert it to a plain video or audio file first."
                )
            audio = next(iter(container.streams.audio), None)
            video = next(
                (s for s in container.streams.video if s.disposition.name != "attached_pic"),
                None,
            )
            duration_ms = int(container.duration * 1000 / 1_000_000) if container.duration else 0
            if audio is None:
                raise NoAudioTrack(
                    f"{shown} has no audio track, so there is nothing to dub. "
                    "Give a file with the original soundtrack."
                )
            audio_ms = (
                int(audio.duration * audio.time_base * 1000)
                if audio.duration is not None and audio.time_base is not None
                else None
            )
            fps = float(video.average_rate) if video is not None and video.average_rate else None
            return MediaInfo(
                container=container.format.name,
                duration_ms=duration_ms,
                size_bytes=size,
                audio_codec=audio.codec_context.name,
                audio_rate_hz=audio.codec_context.sample_rate or 0,
                audio_channels=audio.codec_context.channels or 0,
                audio_duration_ms=audio_ms,
                video_codec=video.codec_context.name if video is not None else None,
                width=video.codec_context.width if video is not None else None,
                height=video.codec_context.height if video is not None else None,
                fps=fps,
            )
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise MediaUnreadable(
            f"{shown} is not readable media (corrupt, truncated or not a video/audio file).",
            detail=str(err),
        ) from err
