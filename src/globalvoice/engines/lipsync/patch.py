"""The embedded mouth engine: the speaker's own mouth images, retrieved (no model weights).

For each frame of a line, the face from the bank (same speaker, same shot) whose mouth shape
is nearest the frame's target, chosen jointly for the whole line by a Viterbi path: a step from
one image to another costs their lower faces' difference, so the mouth moves through similar
images and does not flicker between look-alikes; staying on one image is free. In the spirit of
Video Rewrite (Bregler et al., 1997) and ../shared/prototypes/lipsync/lipsync_patch.py, driven
by phoneme targets instead of loudness alone.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from globalvoice.config.settings import PatchLipsyncConfig
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.lipsync.protocol import FaceCrop, Image, LineMouths, MouthCue

__all__ = ["PatchMouthEngine", "viterbi_path"]

_WIDTH_WEIGHT = 0.5  # a width error counts half an opening error of the same spread
_SWITCH_WEIGHT = 0.35  # a typical image change costs this many opening spreads
_THUMB = (16, 24)  # the lower face compared at this size (width, height)


class PatchMouthEngine:
    def __init__(self, config: PatchLipsyncConfig) -> None:
        self._info = EngineInfo(
            name="lipsync.patch", model_id="retrieval-v1", licence=config.licence
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def line(self, cue: MouthCue) -> LineMouths:
        if not cue.bank:
            return _Unchanged()
        return _Path(cue.bank, viterbi_path(cue.bank, cue.targets))


class _Unchanged:
    def mouth(self, offset: int, face: FaceCrop) -> Image:  # noqa: ARG002 - the protocol's
        return face.image


class _Path:
    def __init__(self, bank: Sequence[FaceCrop], path: list[int]) -> None:
        self._bank, self._path = bank, path

    def mouth(self, offset: int, face: FaceCrop) -> Image:  # noqa: ARG002 - the protocol's
        return self._bank[self._path[min(offset, len(self._path) - 1)]].image


def viterbi_path(bank: Sequence[FaceCrop], targets: npt.NDArray[np.float32]) -> list[int]:
    """The bank index to show in each frame: the cheapest path, where a frame costs its
    image's shape error against the target and a change of image costs their difference."""
    shapes = np.array([[c.opening, c.width] for c in bank], dtype=np.float64)
    spread = np.maximum(shapes.std(axis=0), 1e-3)
    error = np.abs(shapes[None, :, :] - np.asarray(targets, np.float64)[:, None, :]) / spread
    # a target without a width (NaN: loudness gives none) leaves the width free
    unary = error[..., 0] + _WIDTH_WEIGHT * np.nan_to_num(error[..., 1])  # (frames, bank)
    switch = _SWITCH_WEIGHT * _differences(bank)
    cost = unary[0].copy()
    back = np.zeros(unary.shape, dtype=np.int64)
    for frame in range(1, len(unary)):
        total = cost[:, None] + switch  # from (rows) -> to (columns)
        back[frame] = total.argmin(axis=0)
        cost = total[back[frame], np.arange(len(bank))] + unary[frame]
    path = [int(cost.argmin())]
    for frame in range(len(unary) - 1, 0, -1):
        path.append(int(back[frame][path[-1]]))
    return path[::-1]


def _differences(bank: Sequence[FaceCrop]) -> npt.NDArray[np.float64]:
    """Pairwise mean absolute difference of the lower faces, over its median (0 on the
    diagonal)."""
    import cv2

    thumbs = []
    for crop in bank:
        side = crop.image.shape[0]
        lower = crop.image[int(0.55 * side) : int(0.95 * side), int(0.2 * side) : int(0.8 * side)]
        grey = cv2.cvtColor(np.ascontiguousarray(lower), cv2.COLOR_RGB2GRAY)
        thumbs.append(cv2.resize(grey, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float64))
    stack = np.stack(thumbs).reshape(len(bank), -1)
    stack -= stack.mean(axis=1, keepdims=True)  # lighting drifts: compare shapes, not levels
    distance = np.abs(stack[:, None, :] - stack[None, :, :]).mean(axis=2)
    off_diagonal = distance[~np.eye(len(bank), dtype=bool)]
    scale = float(np.median(off_diagonal)) if len(off_diagonal) else 1.0
    return np.asarray(distance / max(scale, 1e-6))
