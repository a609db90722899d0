"""Split a soundtrack into dialogue and background (music and effects), block by block."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from globalvoice.engines.base import EngineInfo

__all__ = ["SeparationStream", "Separator", "Stems"]

Block = npt.NDArray[np.float32]  # (frames, channels)


@dataclass(frozen=True, slots=True)
class Stems:
    """The same frames of dialogue and background, (frames, channels) each; they sum to the
    mix they came from (up to the engine's rounding)."""

    dialogue: Block
    background: Block

    @classmethod
    def empty(cls, channels: int) -> "Stems":
        none = np.zeros((0, channels), dtype=np.float32)
        return cls(dialogue=none, background=none)

    def __len__(self) -> int:
        return len(self.dialogue)


class SeparationStream(Protocol):
    """One soundtrack, pushed in order. `push` may return fewer frames than it was given (the
    engine's latency or context); `finish` returns the rest, so that all the frames returned,
    in order, line up one to one with all the frames pushed."""

    def push(self, mix: Block) -> Stems: ...

    def finish(self) -> Stems: ...


class Separator(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    @property
    def rate_hz(self) -> int:
        """The rate blocks are pushed at."""
        ...

    def stream(self, channels: int) -> SeparationStream:
        """A new stream of `channels`-channel audio (1 or 2) at `rate_hz`."""
        ...
