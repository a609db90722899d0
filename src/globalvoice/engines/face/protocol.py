"""Faces in a video frame: 478-point landmark meshes, followed from frame to frame."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from globalvoice.engines.base import EngineInfo

__all__ = ["FaceLandmarker", "FaceMesh"]


@dataclass(frozen=True, slots=True)
class FaceMesh:
    """One face: (478, 2) landmark positions in pixels (MediaPipe's face-mesh topology)."""

    points: npt.NDArray[np.float32]


class FaceLandmarker(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def faces(self, frame: npt.NDArray[np.uint8]) -> tuple[FaceMesh, ...]:
        """The faces in `frame` (height, width, 3 RGB), following those of the previous frame."""
        ...

    def restart(self) -> None:
        """Forget the faces followed so far (a new shot: detect afresh)."""
        ...
