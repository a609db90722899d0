"""How a redrawn video compares with its source, frame by frame (for benchmarks and tests).

- PSNR outside the lower face: every pixel except a box around the lower face (from under the
  eyes to below the chin, cheek to cheek, from the source frame's own face mesh, widened by a
  quarter of the inter-ocular distance): what the stage promises to leave as it was, up to
  the re-encoding.
- Mouth flicker: the mean absolute change of the mouth box's luma from one frame to the next,
  over the frames of a span, for the output and for the source; their ratio.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.engines.face.protocol import FaceLandmarker

__all__ = ["Comparison", "compare_videos"]

_EYES = (33, 263)
_UNDER_EYES, _CHIN = 118, 152  # a cheek point under the eye; the chin
_CHEEKS = (234, 454)
_MOUTH = (61, 291, 13, 14, 0, 17)


@dataclass(frozen=True, slots=True)
class Comparison:
    frames: int
    psnr_outside_db: float  # over every compared frame's pixels outside the lower face
    flicker_output: float  # mean |luma change| per frame in the mouth box, 0-255
    flicker_source: float

    @property
    def flicker_ratio(self) -> float:
        return self.flicker_output / max(self.flicker_source, 1e-6)


def _frames(path: Path) -> Iterator[npt.NDArray[np.uint8]]:
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def compare_videos(
    source: Path, output: Path, landmarker: FaceLandmarker, frames: tuple[int, int]
) -> Comparison:
    """Compare frames [first, last) of `output` with `source` (decoded side by side)."""
    first, last = frames
    squared, counted = 0.0, 0
    changes: dict[str, list[float]] = {"output": [], "source": []}
    previous: dict[str, npt.NDArray[np.uint8] | None] = {"output": None, "source": None}
    compared = 0
    for index, (src, out) in enumerate(zip(_frames(source), _frames(output), strict=False)):
        if index < first:
            continue
        if index >= last:
            break
        faces = landmarker.faces(src)
        outside = np.ones(src.shape[:2], dtype=bool)
        mouth_box = None
        if faces:
            points = faces[0].points
            eyes = float(np.linalg.norm(points[_EYES[0]] - points[_EYES[1]]))
            pad = 0.25 * eyes
            x0 = int(points[_CHEEKS[0]][0] - pad)
            x1 = int(points[_CHEEKS[1]][0] + pad)
            y0 = int(points[_UNDER_EYES][1] - pad)
            y1 = int(points[_CHIN][1] + pad)
            outside[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
            mouth = points[list(_MOUTH)]
            mx0, my0 = (mouth.min(axis=0) - pad).astype(int)
            mx1, my1 = (mouth.max(axis=0) + pad).astype(int)
            mouth_box = (max(0, mx0), max(0, my0), mx1, my1)
        difference = src[outside].astype(np.float64) - out[outside].astype(np.float64)
        squared += float(np.sum(difference**2))
        counted += difference.size
        for name, image in (("source", src), ("output", out)):
            before = previous[name]
            if mouth_box is not None and before is not None:
                x0, y0, x1, y1 = mouth_box  # this frame's box, on both frames
                now = image[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
                then = before[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
                changes[name].append(float(np.abs(now - then).mean()))
            previous[name] = image
        compared += 1
    mse = squared / max(counted, 1)
    psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
    return Comparison(
        frames=compared,
        psnr_outside_db=psnr,
        flicker_output=float(np.mean(changes["output"])) if changes["output"] else 0.0,
        flicker_source=float(np.mean(changes["source"])) if changes["source"] else 0.0,
    )
