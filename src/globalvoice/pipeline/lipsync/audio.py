"""The sound the stage listens to, read from files a block at a time (memory flat in length)."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.media.pcm import stream_audio

__all__ = ["RATE_HZ", "file_envelope", "read_span"]

RATE_HZ = 16_000
_BAND_HZ = (150.0, 4000.0)
_BLOCK_S = 10.0
_MARGIN_S = 0.5  # filtered with this much context on each side, then trimmed


def file_envelope(
    path: Path, times_s: npt.NDArray[np.float64], period_s: float
) -> npt.NDArray[np.float64]:
    """`sync.speech_envelope` of a whole file at the given frame times: log RMS of the speech
    band over two frame periods around each time, filtered block by block with margins."""
    from scipy.signal import butter, sosfiltfilt

    band = butter(4, _BAND_HZ, btype="band", fs=RATE_HZ, output="sos")
    envelope = np.full(len(times_s), np.log(1e-4))
    half = period_s  # the window is two periods wide
    buffer = np.zeros(0, dtype=np.float64)
    buffer_start = 0.0  # seconds at buffer[0]
    done = 0  # frames whose windows are measured
    margin = int(_MARGIN_S * RATE_HZ)
    blocks = stream_audio(path, rate_hz=RATE_HZ, channels=1, block_frames=int(_BLOCK_S * RATE_HZ))
    for final, block in _with_last(blocks):
        buffer = np.concatenate([buffer, block[:, 0].astype(np.float64)])
        if len(buffer) < 2 * margin and not final:
            continue
        filtered = sosfiltfilt(band, buffer) if len(buffer) > 27 else buffer
        trusted_end = buffer_start + (len(buffer) if final else len(buffer) - margin) / RATE_HZ
        while done < len(times_s) and (final or times_s[done] + half <= trusted_end):
            centre = (times_s[done] - buffer_start) * RATE_HZ
            low, high = max(0, int(centre - half * RATE_HZ)), max(0, int(centre + half * RATE_HZ))
            window = filtered[low:high]
            if len(window):
                envelope[done] = np.log(np.sqrt(np.mean(window**2)) + 1e-4)
            done += 1
        keep = min(len(buffer), 2 * margin)
        buffer_start += (len(buffer) - keep) / RATE_HZ
        buffer = buffer[len(buffer) - keep :]
    return envelope


def _with_last(
    blocks: Iterator[npt.NDArray[np.float32]],
) -> Iterator[tuple[bool, npt.NDArray[np.float32]]]:
    """Each block with whether it is the last."""
    previous = None
    for block in blocks:
        if previous is not None:
            yield False, previous
        previous = block
    if previous is not None:
        yield True, previous


def read_span(path: Path, start_s: float, end_s: float) -> npt.NDArray[np.float32]:
    """Mono 16 kHz samples of `path` from `start_s` to `end_s` (zeros past its end)."""
    import soundfile

    with soundfile.SoundFile(str(path)) as sound:
        first = max(0, int(start_s * sound.samplerate))
        count = max(0, int(end_s * sound.samplerate) - first)
        sound.seek(min(first, sound.frames))
        data = sound.read(count, dtype="float32", always_2d=True).mean(axis=1)
        rate = sound.samplerate
    data = np.pad(data, (0, max(0, count - len(data))))
    if rate == RATE_HZ:
        return np.asarray(data, dtype=np.float32)
    from scipy.signal import resample_poly

    divisor = int(np.gcd(rate, RATE_HZ))
    return np.asarray(resample_poly(data, RATE_HZ // divisor, rate // divisor), dtype=np.float32)
