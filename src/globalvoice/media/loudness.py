"""ITU-R BS.1770-4 loudness and true peak, measured block by block so memory stays bounded.

The K-weighting coefficients come from pyloudnorm; the gating follows its integrated_loudness,
which tests compare against on real media.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["LoudnessMeter", "LoudnessReading"]

_ABSOLUTE_GATE_LUFS = -70.0


@dataclass(frozen=True, slots=True)
class LoudnessReading:
    integrated_lufs: float
    true_peak_dbtp: float


@dataclass
class LoudnessMeter:
    """Feed (frames, channels) blocks with `add`; read the result with `reading`."""

    rate_hz: int
    channels: int
    _filters: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = field(init=False)
    _states: list[npt.NDArray[np.float64]] = field(init=False)
    _pending: npt.NDArray[np.float64] = field(init=False)
    _sub_blocks: list[npt.NDArray[np.float64]] = field(init=False, default_factory=list)
    _peak: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        import pyloudnorm

        meter = pyloudnorm.Meter(self.rate_hz)
        self._filters = [(np.asarray(f.b), np.asarray(f.a)) for f in meter._filters.values()]
        self._states = [np.zeros((2, self.channels)) for _ in self._filters]
        self._pending = np.zeros((0, self.channels))

    def add(self, block: npt.NDArray[np.float32]) -> None:
        from scipy.signal import lfilter, resample_poly

        data = np.asarray(block, dtype=np.float64).reshape(-1, self.channels)
        if len(data) == 0:
            return
        oversampled = resample_poly(data, 4, 1, axis=0) if self.rate_hz < 96_000 else data
        self._peak = max(self._peak, float(np.max(np.abs(oversampled))))
        for index, (b, a) in enumerate(self._filters):
            data, self._states[index] = lfilter(b, a, data, axis=0, zi=self._states[index])
        data = np.concatenate([self._pending, data])
        step = self.rate_hz // 10  # 100 ms sub-blocks; a 400 ms gating block is 4 of them
        whole = len(data) // step * step
        if whole:
            squares = (data[:whole] ** 2).reshape(-1, step, self.channels).mean(axis=1)
            self._sub_blocks.append(squares)
        self._pending = data[whole:]

    def add_all(self, blocks: Iterable[npt.NDArray[np.float32]]) -> "LoudnessMeter":
        for block in blocks:
            self.add(block)
        return self

    def reading(self) -> LoudnessReading:
        peak_db = 20 * np.log10(self._peak) if self._peak > 0 else -np.inf
        if not self._sub_blocks:
            return LoudnessReading(integrated_lufs=-np.inf, true_peak_dbtp=float(peak_db))
        subs = np.concatenate(self._sub_blocks)
        if len(subs) < 4:
            return LoudnessReading(integrated_lufs=-np.inf, true_peak_dbtp=float(peak_db))
        blocks = (subs[:-3] + subs[1:-2] + subs[2:-1] + subs[3:]) / 4  # (n_blocks, channels)
        weights = np.array([1.41 if ch >= 3 else 1.0 for ch in range(self.channels)])
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10 * np.log10(blocks @ weights)
            above_abs = blocks[block_lufs >= _ABSOLUTE_GATE_LUFS]
            if len(above_abs) == 0:
                return LoudnessReading(integrated_lufs=-np.inf, true_peak_dbtp=float(peak_db))
            relative_gate = -0.691 + 10 * np.log10(above_abs.mean(axis=0) @ weights) - 10
            gated = blocks[(block_lufs >= _ABSOLUTE_GATE_LUFS) & (block_lufs >= relative_gate)]
            lufs = -0.691 + 10 * np.log10(gated.mean(axis=0) @ weights)
        return LoudnessReading(integrated_lufs=float(lufs), true_peak_dbtp=float(peak_db))
