"""The speaker's own faces, collected while the faces are tracked: the mouth engines' material.

For every face seen during a dubbed line (and big enough to redraw), a bounded set of its
frames, warped to the canonical crop, chosen to cover the mouth shapes it makes: at most two
per (opening, width) cell, `MAX_CROPS` in all. A face's crops are written to disk when its
shot ends, so memory holds one shot's faces at most, whatever the video's length.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from globalvoice.engines.face.protocol import FaceMesh
from globalvoice.engines.lipsync.protocol import FaceCrop
from globalvoice.pipeline.lipsync.geometry import (
    KEPT_POINTS,
    Pose,
    canonical_pose,
    mouth_opening,
    mouth_width,
)
from globalvoice.pipeline.lipsync.planes import Box, Planes
from globalvoice.pipeline.lipsync.track import FaceTrack

__all__ = ["MAX_CROPS", "BankCollector", "TrackBank", "crop_face", "crop_side"]

MAX_CROPS = 96
_PER_CELL = 2
_CELL = (0.02, 0.06)  # opening, width (inter-ocular distances)
_MIN_SIDE, _MAX_SIDE = 96, 320
_KEPT = list(KEPT_POINTS)


def crop_side(eye_px: float) -> int:
    """The crop side that keeps a face near its own resolution (eyes 0.4 of the side apart)."""
    return int(np.clip(round(eye_px / 0.4 / 2) * 2, _MIN_SIDE, _MAX_SIDE))


def crop_face(planes: Planes, pose: Pose) -> tuple[npt.NDArray[np.uint8], Box | None]:
    """The face in the canonical crop, and the frame box it was read from."""
    import cv2

    side = pose.side
    corners = pose.to_frame(np.array([[0, 0], [side, 0], [0, side], [side, side]], float))
    box = planes.even_box(*corners.min(axis=0), *corners.max(axis=0))
    if box is None:
        return np.zeros((side, side, 3), dtype=np.uint8), None
    matrix = pose.matrix.copy()
    matrix[:, 2] += matrix[:, :2] @ np.array([box[0], box[1]], dtype=np.float64)
    image = cv2.warpAffine(
        planes.rgb(box),
        matrix,
        (side, side),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(image, dtype=np.uint8), box


@dataclass(slots=True)
class TrackBank:
    track_id: int
    shot: int
    side: int
    crops: list[FaceCrop] = field(default_factory=list)
    cells: Counter[tuple[int, int]] = field(default_factory=Counter)
    spilled: Path | None = None  # where the crops went when the shot ended
    kept: int = 0


class BankCollector:
    """A `track.FrameObserver`: collects crops of the faces seen in `wanted` frames."""

    def __init__(self, wanted: npt.NDArray[np.bool_], *, min_eye_px: float, spill_dir: Path):
        self._wanted = wanted
        self._min_eye_px = min_eye_px
        self._spill_dir = spill_dir
        self.banks: dict[int, TrackBank] = {}
        self._shot = -1

    def __call__(
        self, index: int, shot: int, frame: Any, joined: list[tuple[FaceTrack, FaceMesh]]
    ) -> None:
        if shot != self._shot:
            self._spill()
            self._shot = shot
        if index >= len(self._wanted) or not self._wanted[index]:
            return
        planes: Planes | None = None
        for track, mesh in joined:
            points = np.asarray(mesh.points[_KEPT], dtype=np.float32)
            eyes = float(np.linalg.norm(points[0] - points[1]))
            if eyes < self._min_eye_px:
                continue
            bank = self.banks.get(track.track_id)
            if bank is None:
                bank = TrackBank(track_id=track.track_id, shot=shot, side=crop_side(eyes))
                self.banks[track.track_id] = bank
            opening, width = mouth_opening(points), mouth_width(points)
            cell = (round(opening / _CELL[0]), round(width / _CELL[1]))
            if bank.cells[cell] >= _PER_CELL or bank.kept >= MAX_CROPS:
                continue
            planes = planes or Planes(frame)
            image, box = crop_face(planes, canonical_pose(points, bank.side))
            if box is None:
                continue
            bank.cells[cell] += 1
            bank.kept += 1
            bank.crops.append(FaceCrop(image=image, opening=opening, width=width))

    def _spill(self) -> None:
        for bank in self.banks.values():
            if bank.spilled is None and bank.crops:
                bank.spilled = self._spill_dir / f"bank-{bank.track_id}.npz"
                np.savez(
                    bank.spilled,
                    images=np.stack([c.image for c in bank.crops]),
                    shapes=np.array([[c.opening, c.width] for c in bank.crops]),
                )
                bank.crops = []

    def finish(self) -> None:
        self._spill()

    def crops(self, track_id: int) -> list[FaceCrop]:
        """The crops of a face (read back from disk)."""
        bank = self.banks.get(track_id)
        if bank is None or bank.spilled is None:
            return list(bank.crops) if bank else []
        with np.load(bank.spilled) as stored:
            images, shapes = stored["images"], stored["shapes"]
        return [
            FaceCrop(image=images[i], opening=float(shapes[i, 0]), width=float(shapes[i, 1]))
            for i in range(len(images))
        ]

    def count(self, track_id: int) -> int:
        bank = self.banks.get(track_id)
        return bank.kept if bank else 0

    def side(self, track_id: int) -> int | None:
        bank = self.banks.get(track_id)
        return bank.side if bank else None
