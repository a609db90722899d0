"""Time-stretch keeping pitch: Rubber Band (inside the shipped ffmpeg), then exact length."""

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.media.ffmpeg import run_ffmpeg

__all__ = ["fit_length", "stretch_to"]


def fit_length(pcm: Pcm, samples: int) -> Pcm:
    """Pad with silence or cut the last few samples so the take is exactly `samples` long."""
    data = pcm.samples
    if len(data) >= samples:
        return Pcm(samples=data[:samples], rate_hz=pcm.rate_hz)
    padded = np.concatenate([data, np.zeros(samples - len(data), dtype=np.float32)])
    return Pcm(samples=padded, rate_hz=pcm.rate_hz)


def stretch_to(pcm: Pcm, target_ms: int) -> Pcm:
    """Return `pcm` time-stretched to exactly `target_ms` (pitch kept, formants preserved)."""
    target_samples = target_ms * pcm.rate_hz // 1000
    if target_samples <= 0:
        raise ValueError("target_ms must be positive")
    if abs(len(pcm.samples) - target_samples) <= pcm.rate_hz // 1000:
        return fit_length(pcm, target_samples)
    tempo = len(pcm.samples) / target_samples
    raw_pcm = ["-f", "f32le", "-ar", str(pcm.rate_hz), "-ac", "1"]
    stretch = f"rubberband=tempo={tempo:.6f}:formant=preserved:pitchq=quality"
    raw = run_ffmpeg(
        [*raw_pcm, "-i", "-", "-af", stretch, *raw_pcm, "-"],
        stdin=pcm.samples.astype(np.float32).tobytes(),
        what="time-stretch a dubbed line",
    )
    stretched = Pcm(samples=np.frombuffer(raw, dtype=np.float32).copy(), rate_hz=pcm.rate_hz)
    return fit_length(stretched, target_samples)
