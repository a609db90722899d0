"""Decode, stream, resample and level PCM audio (ffmpeg pipes, scipy)."""

import math
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from math import gcd
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import MediaUnreadable
from globalvoice.media.ffmpeg import ffmpeg_exe, input_arg

__all__ = ["decode_audio", "levelled", "resample", "rms", "stream_audio"]

_SAFE_INPUT = ("-protocol_whitelist", "file,pipe")
_RMS_BLOCK = 1 << 20  # samples summed in float64 at a time
_PREALLOCATED_MS = 3_600_000


def _input_args(path: Path, demuxer: str | None) -> list[str]:
    forced = ["-f", demuxer.split(",")[0]] if demuxer else []
    return [*_SAFE_INPUT, *forced, "-i", input_arg(path)]


def decode_audio(
    path: Path, *, rate_hz: int, demuxer: str | None = None, expected_ms: int | None = None
) -> Pcm:
    """The first audio stream of `path`, downmixed to mono float32 at `rate_hz`.

    Read into one array as ffmpeg decodes (sized from `expected_ms` when known, up to an hour,
    grown when longer): about one copy of the audio in memory at any time, where collecting
    ffmpeg's whole output first held three (its bytes, joined, then converted; 345 MB for 30 min
    at 16 kHz). A file that declares more than it holds costs nothing: pages never written are
    never committed, and the array is trimmed.
    """
    planned_ms = min(expected_ms or 0, _PREALLOCATED_MS) + 1000
    samples = np.empty(planned_ms * rate_hz // 1000, dtype=np.float32)
    filled = 0
    for block in stream_audio(
        path, rate_hz=rate_hz, channels=1, block_frames=10 * rate_hz, demuxer=demuxer
    ):
        if filled + len(block) > len(samples):
            grown = np.empty(max(2 * len(samples), filled + len(block)), dtype=np.float32)
            grown[:filled] = samples[:filled]
            samples = grown
        samples[filled : filled + len(block)] = block[:, 0]
        filled += len(block)
    if filled < len(samples) * 0.9:
        return Pcm(samples=samples[:filled].copy(), rate_hz=rate_hz)
    return Pcm(samples=samples[:filled], rate_hz=rate_hz)


def stream_audio(
    path: Path, *, rate_hz: int, channels: int, block_frames: int, demuxer: str | None = None
) -> Iterator[npt.NDArray[np.float32]]:
    """Yield (frames, channels) float32 blocks of the first audio stream; memory stays bounded."""
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *_input_args(path, demuxer),
        "-map",
        "0:a:0",
        "-ac",
        str(channels),
        "-ar",
        str(rate_hz),
        "-f",
        "f32le",
        "-",
    ]
    block_bytes = block_frames * channels * 4
    # ffmpeg's messages go to a file, not a pipe: a damaged file can log more than a pipe holds
    # (an error per frame), and ffmpeg would block on it while we wait for its audio
    with (
        tempfile.TemporaryFile() as messages,
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=messages) as proc,
    ):
        assert proc.stdout is not None  # noqa: S101 - Popen with PIPE always sets it
        while chunk := proc.stdout.read(block_bytes):
            usable = len(chunk) - len(chunk) % (channels * 4)
            yield np.frombuffer(chunk[:usable], dtype=np.float32).reshape(-1, channels)
        proc.wait()
        messages.seek(max(0, messages.seek(0, 2) - 4000))
        stderr = messages.read()
    if proc.returncode != 0:
        raise MediaUnreadable(
            f"ffmpeg could not decode the audio of {path.name}.",
            detail=stderr.decode(errors="replace")[-800:],
        )


def resample(pcm: Pcm, rate_hz: int) -> Pcm:
    if pcm.rate_hz == rate_hz:
        return pcm
    from scipy.signal import resample_poly

    common = gcd(pcm.rate_hz, rate_hz)
    out = resample_poly(pcm.samples, rate_hz // common, pcm.rate_hz // common)
    return Pcm(samples=out.astype(np.float32), rate_hz=rate_hz)


def rms(parts: Iterable[npt.NDArray[np.float32]]) -> float:
    """The root mean square of `parts` taken together (0.0 when empty), summed in float64 one
    block at a time: no float64 copy of a whole input (30 min at 16 kHz would be 230 MB)."""
    total, count = 0.0, 0
    for part in parts:
        for start in range(0, len(part), _RMS_BLOCK):
            block = part[start : start + _RMS_BLOCK].astype(np.float64)
            total += float(block @ block)
        count += len(part)
    return math.sqrt(total / count) if count else 0.0


def levelled(
    samples: npt.NDArray[np.float32], *, level: float, target_dbfs: float
) -> npt.NDArray[np.float32]:
    """A float32 copy of `samples` scaled so that a signal at RMS `level` sits at
    `target_dbfs` (gain at most 1000, i.e. +60 dB)."""
    gain = min(10 ** (target_dbfs / 20) / max(level, 1e-6), 1000.0)
    return (samples * np.float32(gain)).astype(np.float32, copy=False)
