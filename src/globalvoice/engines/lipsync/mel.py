"""Wav2Lip's mel spectrogram (its audio.py and hparams.py), in numpy: what a Wav2Lip-class model
was trained on, so every number here is the original's.

16 kHz speech, pre-emphasis 0.97, STFT of 800 samples every 200 (a periodic Hann window; the
signal reflect-padded by 400 at both ends, as librosa 0.7's centred STFT does), magnitudes onto
80 Slaney mel bands from 55 to 7600 Hz (librosa.filters.mel with htk=False and area
normalisation), to dB less 20, then scaled from [-100, 0] dB to [-4, 4] and clipped. That is 80
mel frames a second; video frame i at f fps hears the 16 frames (0.2 s) from int(80 i / f).
"""

import numpy as np
import numpy.typing as npt

__all__ = [
    "MEL_BANDS",
    "MEL_FPS",
    "RATE_HZ",
    "WINDOW_FRAMES",
    "mel_filterbank",
    "mel_window",
    "melspectrogram",
]

RATE_HZ = 16_000
N_FFT = 800
HOP = 200
MEL_BANDS = 80
FMIN_HZ = 55.0
FMAX_HZ = 7600.0
PREEMPHASIS = 0.97
REF_DB = 20.0
MIN_DB = -100.0
MAX_ABS = 4.0
MEL_FPS = RATE_HZ / HOP
WINDOW_FRAMES = 16

Mel = npt.NDArray[np.float32]  # (MEL_BANDS, frames)

# Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above it.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, linear)


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    linear = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(
    rate_hz: int = RATE_HZ,
    n_fft: int = N_FFT,
    bands: int = MEL_BANDS,
    fmin_hz: float = FMIN_HZ,
    fmax_hz: float = FMAX_HZ,
) -> npt.NDArray[np.float64]:
    """(bands, n_fft // 2 + 1) triangles on the Slaney mel scale, each of unit area in Hz (as
    librosa.filters.mel(htk=False, norm='slaney'))."""
    bins = np.linspace(0.0, rate_hz / 2, n_fft // 2 + 1)
    edges = np.linspace(_hz_to_mel(np.array(fmin_hz)), _hz_to_mel(np.array(fmax_hz)), bands + 2)
    hz = _mel_to_hz(edges)
    widths = np.diff(hz)
    ramps = hz[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (hz[2:] - hz[:-2]))[:, None]
    return weights


_FILTERBANK = mel_filterbank()
_HANN = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic, as librosa's


def melspectrogram(speech: npt.NDArray[np.float32]) -> Mel:
    """Wav2Lip's normalised mel spectrogram of 16 kHz mono `speech`: (80, 1 + samples // 200),
    values in [-4, 4] (-4 is silence). Speech shorter than half an FFT is padded with silence
    first, so that the reflection has something to reflect."""
    signal = np.asarray(speech, dtype=np.float64).reshape(-1)
    if len(signal) <= N_FFT // 2:
        signal = np.pad(signal, (0, N_FFT // 2 + 1 - len(signal)))
    emphasised = signal.copy()
    emphasised[1:] -= PREEMPHASIS * signal[:-1]
    padded = np.pad(emphasised, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    magnitude = np.abs(np.fft.rfft(frames * _HANN, axis=1)).T
    db = 20.0 * np.log10(np.maximum(1e-5, _FILTERBANK @ magnitude)) - REF_DB
    scaled = 2 * MAX_ABS * (db - MIN_DB) / -MIN_DB - MAX_ABS
    return np.clip(scaled, -MAX_ABS, MAX_ABS).astype(np.float32)


def mel_window(mel: Mel, frame: int, fps: float) -> Mel:
    """The (80, 16) window video frame `frame` hears: from mel frame int(80 frame / fps), the
    last mel frame repeated where the window runs past the end."""
    if frame < 0:
        raise ValueError(f"frame must be >= 0, not {frame}")
    start = int(MEL_FPS * frame / fps)
    columns = np.minimum(np.arange(start, start + WINDOW_FRAMES), mel.shape[1] - 1)
    window: Mel = np.ascontiguousarray(mel[:, columns])
    return window
