"""How well a mouth follows a soundtrack: no SyncNet weights ship, so a landmark/energy proxy.

The mouth opening (inner-lip gap over the distance between the outer eye corners) and the
soundtrack's log energy in the speech band, one value per video frame, both detrended (a moving
average of about 0.6 s taken off, so speech-versus-silence alone does not count), are
correlated at lags of up to half a second. In sync, real talking heads measure about 0.4 at
lag 0; against another clip's speech about 0.1 (../shared/prototypes/lipsync/syncmetric.py;
tests/test_lipsync_faces.py). It finds an offset to within a frame; it cannot rank methods.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from globalvoice.domain.audio import Pcm

__all__ = [
    "EYE_OUTER",
    "LIP_INNER",
    "SyncMeasure",
    "mouth_opening",
    "speech_envelope",
    "sync_measure",
]

LIP_INNER = (13, 14)  # the inner lips' midpoints, upper and lower (face-mesh indices)
EYE_OUTER = (33, 263)  # the outer eye corners
_BAND_HZ = (150.0, 4000.0)
_DETREND_FRAMES = 15


@dataclass(frozen=True, slots=True)
class SyncMeasure:
    at_zero: float  # the best correlation at lag -1, 0 or +1 frame
    best_lag: int  # frames; positive: the sound comes after the mouth
    best: float  # the correlation at best_lag


def mouth_opening(points: npt.NDArray[np.float32]) -> float:
    """The inner-lip gap of a (478, 2) mesh, in inter-ocular distances."""
    eyes = float(np.linalg.norm(points[EYE_OUTER[0]] - points[EYE_OUTER[1]]))
    gap = float(np.linalg.norm(points[LIP_INNER[0]] - points[LIP_INNER[1]]))
    return gap / eyes if eyes > 0 else float("nan")


def speech_envelope(audio: Pcm, *, fps: float, frames: int) -> npt.NDArray[np.float64]:
    """Log RMS of the speech band over two frame periods around each frame's middle."""
    from scipy.signal import butter, sosfiltfilt

    rate = audio.rate_hz
    band = butter(4, _BAND_HZ, btype="band", fs=rate, output="sos")
    samples = sosfiltfilt(band, np.asarray(audio.samples, dtype=np.float64))
    hop = rate / fps
    half = int(hop)
    envelope = np.zeros(frames)
    for index in range(frames):
        middle = int((index + 0.5) * hop)
        window = samples[max(0, middle - half) : middle + half]
        envelope[index] = np.sqrt(np.mean(window**2)) if len(window) else 0.0
    return np.asarray(np.log(envelope + 1e-4))


def sync_measure(
    mouth: npt.NDArray[np.float64],
    envelope: npt.NDArray[np.float64],
    *,
    max_lag: int = 12,
) -> SyncMeasure:
    """The correlation of `mouth` with `envelope` (one value per frame each; NaN where no
    mouth was seen, filled from its neighbours) at lag 0 +-1 frame and at its best lag."""
    count = min(len(mouth), len(envelope))
    opening = _detrend(_filled(mouth[:count]))
    energy = _detrend(envelope[:count])
    scores = {lag: _correlation(opening, energy, lag) for lag in range(-max_lag, max_lag + 1)}
    best_lag = max(scores, key=lambda lag: scores[lag])
    return SyncMeasure(
        at_zero=max(scores.get(-1, 0.0), scores[0], scores.get(1, 0.0)),
        best_lag=best_lag,
        best=scores[best_lag],
    )


def _filled(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    index = np.arange(len(values))
    known = ~np.isnan(values)
    if not known.any():
        return np.zeros(len(values))
    return np.asarray(np.interp(index, index[known], values[known]))


def _detrend(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    width = _DETREND_FRAMES
    padded = np.pad(values, width // 2, mode="edge")
    trend = np.convolve(padded, np.ones(width) / width, mode="valid")[: len(values)]
    return values - trend


def _correlation(
    mouth: npt.NDArray[np.float64], energy: npt.NDArray[np.float64], lag: int
) -> float:
    """Pearson r of mouth[t] with energy[t + lag]."""
    count = len(mouth)
    first, second = (
        (mouth[: count - lag], energy[lag:]) if lag >= 0 else (mouth[-lag:], energy[: count + lag])
    )
    if len(first) < 6 or first.std() == 0 or second.std() == 0:
        return 0.0
    return float(np.corrcoef(first, second)[0, 1])
