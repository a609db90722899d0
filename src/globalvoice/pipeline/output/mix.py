"""Mix: the dubbed lines over the original sound, which is ducked while dubbed speech plays.

Everything streams in blocks, so memory does not grow with the length of the video.
"""

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from globalvoice.domain.media import MediaInfo
from globalvoice.domain.render import FittedTake
from globalvoice.media.loudness import LoudnessMeter, LoudnessReading
from globalvoice.media.pcm import stream_audio

__all__ = [
    "DEFAULT_DUB_RATE_HZ",
    "MIX_RATE_HZ",
    "DubTrackWriter",
    "duck_envelope",
    "mix_tracks",
]

MIX_RATE_HZ = 48_000
_BLOCK_FRAMES = MIX_RATE_HZ * 2
DEFAULT_DUB_RATE_HZ = 24_000  # a track with no take at all: any rate will do
_SAMPLE_BYTES = 4  # float32
_RAMP_MS = 120
_HOLD_MS = 100


class DubTrackWriter:
    """The dubbed speech track, built on disk one take at a time.

    Takes arrive in any order and are summed where they overlap (a flagged line may run into
    the next one); only the take being added is in memory. They collect in a scratch file of
    raw float samples next to `path`; `finish` writes the float WAV at `path`, as long as the
    media or longer (a take running past the end is never cut). Use as a context manager: the
    scratch file goes on exit, whatever happened."""

    def __init__(self, path: Path, *, rate_hz: int | None = None) -> None:
        self.path = path
        self.rate_hz = rate_hz  # None: the first take's
        self._scratch = path.parent / f".{path.name}.f32"
        self._handle: BinaryIO | None = None
        self._frames = 0

    def __enter__(self) -> "DubTrackWriter":
        self._handle = self._scratch.open("w+b")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._scratch.unlink(missing_ok=True)

    def _open(self) -> BinaryIO:
        if self._handle is None:
            raise RuntimeError("DubTrackWriter is used as a context manager")
        return self._handle

    def add(self, take: FittedTake) -> None:
        handle = self._open()
        if self.rate_hz is None:
            self.rate_hz = take.audio.rate_hz
        elif take.audio.rate_hz != self.rate_hz:
            raise ValueError("all takes must share the dub track's rate")
        start = take.start_ms * self.rate_hz // 1000
        samples = np.array(take.audio.samples, dtype=np.float32)  # a copy: summed in place
        handle.seek(start * _SAMPLE_BYTES)
        under = np.frombuffer(handle.read(len(samples) * _SAMPLE_BYTES), dtype=np.float32)
        samples[: len(under)] += under  # reads past the end come back short: nothing there
        handle.seek(start * _SAMPLE_BYTES)
        handle.write(samples.tobytes())  # past the end, the file grows (a gap reads as zeros)
        self._frames = max(self._frames, start + len(samples))

    def finish(self, *, duration_ms: int) -> None:
        import soundfile

        handle = self._open()
        rate = self.rate_hz or DEFAULT_DUB_RATE_HZ
        total = max(duration_ms * rate // 1000, self._frames)
        handle.seek(0)
        with soundfile.SoundFile(
            str(self.path), "w", samplerate=rate, channels=1, subtype="FLOAT"
        ) as out:
            written = 0
            while written < total:
                count = min(_BLOCK_FRAMES, total - written)
                block = np.frombuffer(handle.read(count * _SAMPLE_BYTES), dtype=np.float32)
                out.write(np.concatenate([block, np.zeros(count - len(block), np.float32)]))
                written += count


def duck_envelope(
    first_frame: int, frames: int, spans_ms: Sequence[tuple[int, int]], *, duck_db: float
) -> npt.NDArray[np.float32]:
    """Gain per frame for the original track: `duck_db` under dubbed speech, ramped in and out."""
    floor = 10 ** (duck_db / 20)
    times_ms = (first_frame + np.arange(frames)) * 1000 / MIX_RATE_HZ
    depth = np.zeros(frames, dtype=np.float64)  # 0 = untouched, 1 = fully ducked
    lo, hi = times_ms[0] - _RAMP_MS - _HOLD_MS, times_ms[-1] + _RAMP_MS + _HOLD_MS
    for start, end in spans_ms:
        if end < lo or start > hi:
            continue
        rise = np.clip((times_ms - (start - _HOLD_MS - _RAMP_MS)) / _RAMP_MS, 0, 1)
        fall = np.clip(((end + _HOLD_MS + _RAMP_MS) - times_ms) / _RAMP_MS, 0, 1)
        depth = np.maximum(depth, np.minimum(rise, fall))
    return (1 - depth * (1 - floor)).astype(np.float32)


def mix_tracks(
    source: Path,
    info: MediaInfo,
    dub_track: Path,
    out_path: Path,
    *,
    spans_ms: Sequence[tuple[int, int]],
    duck_db: float,
) -> LoudnessReading:
    """Write original (ducked) + dub as 48 kHz stereo float WAV; return the mix's loudness."""
    import soundfile

    meter = LoudnessMeter(MIX_RATE_HZ, 2)
    original = stream_audio(
        source, rate_hz=MIX_RATE_HZ, channels=2, block_frames=_BLOCK_FRAMES, demuxer=info.container
    )
    dub = stream_audio(dub_track, rate_hz=MIX_RATE_HZ, channels=1, block_frames=_BLOCK_FRAMES)
    position = 0
    rest = np.zeros((0, 1), dtype=np.float32)
    with soundfile.SoundFile(
        str(out_path), "w", samplerate=MIX_RATE_HZ, channels=2, subtype="FLOAT"
    ) as out:
        for orig_block in original:
            dub_block = next(dub, np.zeros((0, 1), dtype=np.float32))
            frames = len(orig_block)
            voice = np.zeros((frames, 1), dtype=np.float32)
            voice[: min(frames, len(dub_block))] = dub_block[:frames]
            rest = dub_block[frames:]  # the source's last block is short; the dub's may not be
            gain = duck_envelope(position, frames, spans_ms, duck_db=duck_db)[:, None]
            mixed = orig_block * gain + voice
            out.write(mixed)
            meter.add(mixed)
            position += frames
        # A flagged last line may run past the source: never cut it.
        for dub_block in itertools.chain((rest,), dub):
            if not len(dub_block):
                continue
            mixed = np.repeat(dub_block, 2, axis=1)
            out.write(mixed)
            meter.add(mixed)
    return meter.reading()
