"""Assemble the outputs: loudness-normalised audio, the muxed video, and subtitles."""

from collections.abc import Sequence
from pathlib import Path

from globalvoice.domain.media import MediaInfo
from globalvoice.media.ffmpeg import input_arg, run_ffmpeg
from globalvoice.media.loudness import LoudnessMeter, LoudnessReading
from globalvoice.media.pcm import stream_audio

__all__ = [
    "COPYABLE_VIDEO_CODECS",
    "encode_audio",
    "encode_speech_stem",
    "measure_loudness",
    "mux_video",
    "video_rotation",
    "write_subtitles",
]

COPYABLE_VIDEO_CODECS = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
_AAC_BITRATE = "192k"


def encode_audio(
    mix_wav: Path, out_path: Path, *, gain_db: float, true_peak_dbtp: float, needs_limiter: bool
) -> None:
    """Apply a static gain (and, only if the peaks demand it, a limiter) and encode AAC."""
    chain = f"volume={gain_db:.4f}dB"
    if needs_limiter:
        # alimiter works on sample peaks; stay 1 dB lower so inter-sample peaks stay in bounds.
        limit = 10 ** ((true_peak_dbtp - 1.0) / 20)
        chain += f",alimiter=limit={limit:.5f}:level=false:attack=5:release=50"
    run_ffmpeg(
        [
            "-i",
            input_arg(mix_wav),
            "-af",
            chain,
            "-c:a",
            "aac",
            "-b:a",
            _AAC_BITRATE,
            "-ar",
            "48000",
            input_arg(out_path),
        ],
        what="encode the dubbed audio",
    )


def encode_speech_stem(dub_wav: Path, out_path: Path) -> None:
    """The dubbed voices alone (no original sound), lossless, for editors and quality checks."""
    run_ffmpeg(
        ["-i", input_arg(dub_wav), "-c:a", "flac", "-sample_fmt", "s16", input_arg(out_path)],
        what="encode the dubbed speech stem",
    )


def mux_video(
    source: Path, info: MediaInfo, audio: Path, out_path: Path, redrawn: Path | None = None
) -> None:
    """The source's video stream (copied when MP4 can carry it, else H.264) with the new audio.

    `redrawn`: the lip-synced picture (H.264 in MP4, video only), copied instead of the
    source's, with the source's display rotation (its frames were decoded unrotated)."""
    if redrawn is not None:
        picture = ["-display_rotation", str(video_rotation(source)), "-i", input_arg(redrawn)]
        video_codec = ["-c:v", "copy"]
    else:
        picture = ["-f", info.container.split(",")[0], "-i", input_arg(source)]
        video_codec = (
            ["-c:v", "copy"]
            if info.video_codec in COPYABLE_VIDEO_CODECS
            else ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
        )
    run_ffmpeg(
        [
            "-protocol_whitelist",
            "file,pipe",
            *picture,
            "-i",
            input_arg(audio),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            *video_codec,
            "-c:a",
            "copy",
            "-movflags",
            "+faststart",
            input_arg(out_path),
        ],
        what="mux the dubbed video",
    )


def video_rotation(path: Path) -> int:
    """The display rotation of the first video stream, degrees counter-clockwise (0: none)."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            return round(frame.rotation)
    return 0


def measure_loudness(path: Path) -> LoudnessReading:
    """Integrated loudness and true peak of a written file, measured, not assumed."""
    meter = LoudnessMeter(48_000, 2)
    return meter.add_all(
        stream_audio(path, rate_hz=48_000, channels=2, block_frames=96_000)
    ).reading()


def write_subtitles(cues: Sequence[tuple[int, int, str]], base: Path) -> tuple[Path, Path]:
    """Write `base`.srt and `base`.vtt from (start_ms, end_ms, text) cues."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for start_ms, end_ms, text in cues:
        subs.append(pysubs2.SSAEvent(start=start_ms, end=max(end_ms, start_ms + 1), text=text))
    srt, vtt = base.parent / f"{base.name}.srt", base.parent / f"{base.name}.vtt"
    subs.save(str(srt), format_="srt")
    subs.save(str(vtt), format_="vtt")
    return srt, vtt
