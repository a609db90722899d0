"""A decoded frame's YUV 4:2:0 planes, read and written a box at a time.

Only the lower face changes, so only its box is converted to RGB and back; the rest of the
frame stays in the planes it was decoded into (no full-frame colour conversion per frame:
at 720p that alone would cost more than the face mesh). The conversion is OpenCV's YUV<->RGB
both ways, so a pixel that is not changed comes back as it was, within rounding.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Box", "Planes"]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1: even corners, x1 and y1 exclusive


class Planes:
    """The planes of one yuv420p frame (a copy: the decoder's buffer is not written)."""

    def __init__(self, frame: Any) -> None:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        self.width, self.height = int(frame.width), int(frame.height)
        packed = np.asarray(frame.to_ndarray(), dtype=np.uint8)  # (h * 3 / 2, w)
        height, width = self.height, self.width
        self.y = packed[:height]
        chroma = packed[height:].reshape(2, height // 2, width // 2)
        self.u, self.v = chroma[0], chroma[1]
        self._packed = packed
        self.pts, self.time_base = frame.pts, frame.time_base

    def even_box(self, x0: float, y0: float, x1: float, y1: float) -> Box | None:
        """The box around these corners, widened to even pixels and clipped to the frame;
        None when nothing of it is inside."""
        left = max(0, int(np.floor(x0 / 2)) * 2)
        top = max(0, int(np.floor(y0 / 2)) * 2)
        right = min(self.width // 2 * 2, int(np.ceil(x1 / 2)) * 2)
        bottom = min(self.height // 2 * 2, int(np.ceil(y1 / 2)) * 2)
        if right - left < 2 or bottom - top < 2:
            return None
        return left, top, right, bottom

    def rgb(self, box: Box) -> npt.NDArray[np.uint8]:
        import cv2

        x0, y0, x1, y1 = box
        luma = self.y[y0:y1, x0:x1]
        size = (x1 - x0, y1 - y0)
        u = cv2.resize(
            self.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], size, interpolation=cv2.INTER_NEAREST
        )
        v = cv2.resize(
            self.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], size, interpolation=cv2.INTER_NEAREST
        )
        return np.asarray(cv2.cvtColor(np.dstack([luma, u, v]), cv2.COLOR_YUV2RGB), np.uint8)

    def put_rgb(self, box: Box, rgb: npt.NDArray[np.uint8], where: npt.NDArray[np.bool_]) -> None:
        """Write `rgb` into the box where `where` is set (chroma: where any of its 2x2 is);
        every other pixel keeps its decoded value exactly."""
        import cv2

        x0, y0, x1, y1 = box
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)
        luma = self.y[y0:y1, x0:x1]
        luma[where] = yuv[..., 0][where]
        half = ((x1 - x0) // 2, (y1 - y0) // 2)
        touched = where.reshape(half[1], 2, half[0], 2).any(axis=(1, 3))
        for plane, channel in ((self.u, 1), (self.v, 2)):
            box_chroma = plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
            box_chroma[touched] = cv2.resize(yuv[..., channel], half, interpolation=cv2.INTER_AREA)[
                touched
            ]

    def frame(self) -> Any:
        """A new yuv420p frame of these planes, with the source frame's timestamp."""
        import av

        out = av.VideoFrame.from_ndarray(self._packed, format="yuv420p")
        out.pts, out.time_base = self.pts, self.time_base
        return out
