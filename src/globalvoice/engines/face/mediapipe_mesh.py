"""MediaPipe 0.10.21's face mesh (Apache-2.0; its BlazeFace detector and face-landmark models
ship inside the wheel): detection, then landmark tracking from frame to frame.

MediaPipe's native code writes start-up chatter to the process's stderr each time a graph starts
(TFLite's "Created ... XNNPACK delegate", absl's note that it is not initialised, a feedback
manager warning and, on the first face, a landmark projection warning; on import under protobuf
6 a harmless AttributeError line, see docs/lipsync.md). Those lines are kept off the user's
console; anything else written meanwhile is passed on.
"""

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from globalvoice.domain.errors import ModelNotAvailable
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.face.protocol import FaceMesh

__all__ = ["MediaPipeFaceMesh"]

_LICENCE = "Apache-2.0 (MediaPipe 0.10.21 and its face detection and face mesh models)"
_CHATTER = re.compile(
    r"Created TensorFlow Lite XNNPACK delegate|absl::InitializeLog\(\)|"
    r"inference_feedback_manager\.cc|landmark_projection_calculator\.cc|"
    r"'MessageFactory' object has no attribute 'GetPrototype'"
)

_REDIRECTING = threading.RLock()  # fd 2 is the process's: one capture at a time


@contextmanager
def _without_chatter() -> Iterator[None]:
    """Native stderr (fd 2) captured while a graph starts; lines that are not MediaPipe's
    start-up chatter written back after."""
    with _REDIRECTING, _captured_stderr():
        yield


@contextmanager
def _captured_stderr() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines()
                if line.strip() and not _CHATTER.search(line)
            ]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


class MediaPipeFaceMesh:
    def __init__(self, *, max_faces: int = 4) -> None:
        try:
            with _without_chatter():
                import mediapipe
        except ImportError as err:
            raise ModelNotAvailable(
                "MediaPipe is not installed: run scripts/install.sh "
                "(it installs mediapipe==0.10.21, the last release with its face models)."
            ) from err
        self._solutions = mediapipe.solutions
        self._max_faces = max_faces
        self._mesh: Any = None  # None: a new graph is started with the next frame
        self._quiet = True
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
        """A new graph, started with the next frame (its native start-up, which runs on the
        graph's own threads, then happens inside that frame's capture window)."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def faces(self, frame: npt.NDArray[np.uint8]) -> tuple[FaceMesh, ...]:
        height, width = frame.shape[:2]
        if self._mesh is None or self._quiet:
            # until a graph has found a face: its models load and first run say their piece
            with _without_chatter():
                result = self._process(frame)
            self._quiet = not result.multi_face_landmarks
        else:
            result = self._process(frame)
        found = result.multi_face_landmarks or ()
        scale = np.array([width, height], dtype=np.float32)
        return tuple(
            FaceMesh(points=np.array([[p.x, p.y] for p in face.landmark], dtype=np.float32) * scale)
            for face in found
        )

    def _process(self, frame: npt.NDArray[np.uint8]) -> Any:
        if self._mesh is None:
            self._mesh = self._solutions.face_mesh.FaceMesh(
                static_image_mode=False,
                max_num_faces=self._max_faces,
                refine_landmarks=True,
                min_detection_confidence=0.5,
                min_tracking_confidence=0.5,
            )
            self._quiet = True
        return self._mesh.process(np.ascontiguousarray(frame))
