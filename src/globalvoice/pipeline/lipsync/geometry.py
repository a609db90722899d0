"""Where a face is, frame by frame, in the canonical frame the mouth engines work in.

A face's pose in a frame is the similarity transform that puts its outer eye corners where
`CANONICAL_EYES` says, in a square crop of `side` pixels. Eye landmarks jitter by a pixel or
two from frame to frame; the transforms are smoothed along the track before use, so the mouth
pasted back does not shake. The mask (what of the crop replaces the frame) is one per face, in
canonical space: the lower face from just under the nose to below the chin, feathered, wide
enough for the mouth at its widest. One mask for the whole line: no seam moves.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from globalvoice.engines.lipsync.protocol import CANONICAL_EYES

__all__ = [
    "KEPT_POINTS",
    "Pose",
    "canonical_pose",
    "face_mask",
    "mouth_width",
    "smooth_poses",
]

# The landmarks kept per frame (face-mesh indices): eyes, nose bridge and base, chin, mouth
# corners, inner lips. Enough for pose, mouth shape and mask, ~120 bytes a frame.
EYES = (33, 263)
NOSE_BASE, CHIN = 2, 152
MOUTH_CORNERS = (61, 291)
LIPS = (13, 14)
KEPT_POINTS = (*EYES, 168, NOSE_BASE, CHIN, *MOUTH_CORNERS, *LIPS)
_K = {index: position for position, index in enumerate(KEPT_POINTS)}

Points = npt.NDArray[np.float32]  # (len(KEPT_POINTS), 2) in frame pixels


@dataclass(frozen=True, slots=True)
class Pose:
    """Frame pixels -> canonical crop pixels: x' = a*x - b*y + tx, y' = b*x + a*y + ty."""

    a: float
    b: float
    tx: float
    ty: float
    side: int

    @property
    def matrix(self) -> npt.NDArray[np.float64]:
        return np.array([[self.a, -self.b, self.tx], [self.b, self.a, self.ty]])

    @property
    def inverse(self) -> npt.NDArray[np.float64]:
        scale = self.a * self.a + self.b * self.b
        a, b = self.a / scale, -self.b / scale
        return np.array(
            [
                [a, -b, -(a * self.tx - b * self.ty)],
                [b, a, -(b * self.tx + a * self.ty)],
            ]
        )

    def to_canonical(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return np.asarray(points, dtype=np.float64) @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_frame(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        inverse = self.inverse
        return np.asarray(points, dtype=np.float64) @ inverse[:, :2].T + inverse[:, 2]


def canonical_pose(points: Points, side: int) -> Pose:
    """The similarity that puts this frame's eye corners on the canonical ones."""
    source = points[[_K[EYES[0]], _K[EYES[1]]]].astype(np.float64)
    target = np.array(CANONICAL_EYES, dtype=np.float64) * side
    src = complex(*(source[1] - source[0]))
    dst = complex(*(target[1] - target[0]))
    rotation = dst / src if src != 0 else complex(1.0, 0.0)
    origin = complex(*target[0]) - rotation * complex(*source[0])
    return Pose(rotation.real, rotation.imag, origin.real, origin.imag, side)


def smooth_poses(poses: list[Pose | None], radius: int = 2) -> list[Pose | None]:
    """Each pose averaged with its found neighbours within `radius` frames (a box filter on
    the transform's parameters: for small motions it is the average placement)."""
    found = [p for p in poses if p is not None]
    if not found:
        return poses
    params = np.array(
        [[p.a, p.b, p.tx, p.ty] if p is not None else [np.nan] * 4 for p in poses],
        dtype=np.float64,
    )
    out: list[Pose | None] = []
    for index, pose in enumerate(poses):
        if pose is None:
            out.append(None)
            continue
        window = params[max(0, index - radius) : index + radius + 1]
        a, b, tx, ty = np.nanmean(window, axis=0)
        out.append(Pose(float(a), float(b), float(tx), float(ty), pose.side))
    return out


def mouth_width(points: Points) -> float:
    """Mouth corner to corner, in inter-ocular distances."""
    eyes = float(np.linalg.norm(points[_K[EYES[0]]] - points[_K[EYES[1]]]))
    corners = float(np.linalg.norm(points[_K[MOUTH_CORNERS[0]]] - points[_K[MOUTH_CORNERS[1]]]))
    return corners / eyes if eyes > 0 else float("nan")


def mouth_opening(points: Points) -> float:
    """The inner-lip gap, in inter-ocular distances (as `sync.mouth_opening` on a full mesh)."""
    eyes = float(np.linalg.norm(points[_K[EYES[0]]] - points[_K[EYES[1]]]))
    gap = float(np.linalg.norm(points[_K[LIPS[0]]] - points[_K[LIPS[1]]]))
    return gap / eyes if eyes > 0 else float("nan")


def face_mask(canonical: npt.NDArray[np.float64], side: int) -> npt.NDArray[np.float32]:
    """The feathered lower-face mask of a face, from its kept points in canonical space over
    many frames (n, len(KEPT_POINTS), 2): under the nose, down past the lowest chin seen,
    as wide as the widest mouth plus a margin, feathered over ~4 % of the side."""
    import cv2

    nose = float(np.median(canonical[:, _K[NOSE_BASE], 1]))
    chin = float(np.percentile(canonical[:, _K[CHIN], 1], 95))
    corners = canonical[:, [_K[MOUTH_CORNERS[0]], _K[MOUTH_CORNERS[1]]], 0]
    left, right = float(np.percentile(corners[:, 0], 5)), float(np.percentile(corners[:, 1], 95))
    centre_x = (left + right) / 2
    top = nose + 0.02 * side
    bottom = chin + 0.03 * side
    half_width = (right - left) / 2 + 0.07 * side
    mask = np.zeros((side, side), dtype=np.float32)
    cv2.ellipse(
        mask,
        (round(centre_x), round((top + bottom) / 2)),
        (max(1, round(half_width)), max(1, round((bottom - top) / 2))),
        0,
        0,
        360,
        1.0,
        -1,
    )
    feather = max(1.0, 0.035 * side)
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), feather), dtype=np.float32)
