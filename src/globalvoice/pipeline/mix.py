"""Mix: the dubbed lines over the original sound, which is ducked while dubbed speech plays.

Everything streams in blocks, so memory does not grow with the length of the video.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.domain.media import MediaInfo
from globalvoice.domain.render import FittedTake
from globalvoice.media.loudness import LoudnessMeter, LoudnessReading
from globalvoice.media.pcm import stream_audio

__all__ = ["MIX_RATE_HZ", "duck_envelope", "mix_tracks", "write_dub_track"]

MIX_RATE_HZ = 48_000
_BLOCK_FRAMES = MIX_RATE_HZ * 2
_RAMP_MS = 120
_HOLD_MS = 100


def write_dub_track(
    takes: Sequence[FittedTake], path: Path, *, duration_ms: int, rate_hz: int
) -> None:
    """Place every take at its start on a silent track of `duration_ms`, written as it goes."""
    import soundfile

    ordered = sorted(takes, key=lambda t: t.start_ms)
    total = duration_ms * rate_hz // 1000
    if ordered:
        total = max(
            total, max(t.start_ms * rate_hz // 1000 + len(t.audio.samples) for t in ordered)
        )
    with soundfile.SoundFile(
        str(path), "w", samplerate=rate_hz, channels=1, subtype="FLOAT"
    ) as out:
        written = 0
        pending = np.zeros(0, dtype=np.float32)  # samples from `written` on, not yet final
        for take in ordered:
            if take.audio.rate_hz != rate_hz:
                raise ValueError("all takes must share the dub track's rate")
            start = take.start_ms * rate_hz // 1000
            if start > written + len(pending):
                out.write(pending)
                out.write(np.zeros(start - written - len(pending), dtype=np.float32))
                written, pending = start, np.zeros(0, dtype=np.float32)
            offset = start - written
            end = offset + len(take.audio.samples)
            if end > len(pending):
                pending = np.concatenate([pending, np.zeros(end - len(pending), dtype=np.float32)])
            pending[offset:end] += take.audio.samples
            out.write(pending[:offset])  # nothing later can start before this take
            written += offset
            pending = pending[offset:]
        out.write(pending)
        written += len(pending)
        if total > written:
            out.write(np.zeros(total - written, dtype=np.float32))


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
    with soundfile.SoundFile(
        str(out_path), "w", samplerate=MIX_RATE_HZ, channels=2, subtype="FLOAT"
    ) as out:
        for orig_block in original:
            dub_block = next(dub, np.zeros((0, 1), dtype=np.float32))
            frames = len(orig_block)
            voice = np.zeros((frames, 1), dtype=np.float32)
            voice[: min(frames, len(dub_block))] = dub_block[:frames]
            gain = duck_envelope(position, frames, spans_ms, duck_db=duck_db)[:, None]
            mixed = orig_block * gain + voice
            out.write(mixed)
            meter.add(mixed)
            position += frames
        for dub_block in dub:  # a flagged last line may run past the source: never cut it
            mixed = np.repeat(dub_block, 2, axis=1)
            out.write(mixed)
            meter.add(mixed)
    return meter.reading()
