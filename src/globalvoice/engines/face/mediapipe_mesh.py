"""MediaPipe 0.10.21's face mesh (Apache-2.0; its BlazeFace detector and face-landmark models
ship inside the wheel): detection, then landmark tracking from frame to frame."""

from typing import Any

import numpy as np
import numpy.typing as npt

from globalvoice.domain.errors import ModelNotAvailable
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.face.protocol import FaceMesh

__all__ = ["MediaPipeFaceMesh"]

_LICENCE = "Apache-2.0 (MediaPipe 0.10.21 and its face detection and face mesh models)"


class MediaPipeFaceMesh:
    def __init__(self, *, max_faces: int = 4) -> None:
        try:
            import mediapipe
        except ImportError as err:
            raise ModelNotAvailable(
                "MediaPipe is not installed: run scripts/install.sh "
                "(it installs mediapipe==0.10.21, the last release with its face models)."
            ) from err
        self._solutions = mediapipe.solutions
        self._max_faces = max_faces
        self._mesh: Any = None
        self._info = EngineInfo(
            name="mediapipe-face-mesh",
            model_id=f"mediapipe-{mediapipe.__version__}-refined-{max_faces}",
            licence=_LICENCE,
        )
        self.restart()

    @property
    def info(self) -> EngineInfo:
        return self._info

    def restart(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
        self._mesh = self._solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=self._max_faces,
            refine_landmarks=True,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def faces(self, frame: npt.NDArray[np.uint8]) -> tuple[FaceMesh, ...]:
        height, width = frame.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(frame))
        found = result.multi_face_landmarks or ()
        scale = np.array([width, height], dtype=np.float32)
        return tuple(
            FaceMesh(points=np.array([[p.x, p.y] for p in face.landmark], dtype=np.float32) * scale)
            for face in found
        )
