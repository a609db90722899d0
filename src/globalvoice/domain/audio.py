"""PCM audio held in memory: float32 mono samples at a known rate."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Pcm"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pcm:
    samples: npt.NDArray[np.float32]
    rate_hz: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ValueError("Pcm holds mono samples only")
        if self.rate_hz <= 0:
            raise ValueError("rate_hz must be positive")

    @property
    def duration_ms(self) -> int:
        return round(len(self.samples) * 1000 / self.rate_hz)

    def slice_ms(self, start_ms: int, end_ms: int) -> "Pcm":
        first = max(0, start_ms * self.rate_hz // 1000)
        last = min(len(self.samples), end_ms * self.rate_hz // 1000)
        return Pcm(samples=self.samples[first:last], rate_hz=self.rate_hz)
