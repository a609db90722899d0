"""Mouth engines: given a line's dubbed speech and the speaker's face, the mouth to show in
each frame. The lipsync stage does the rest (finding, aligning, colour-matching, blending).

Faces reach an engine warped to one canonical frame (`FaceCrop`): a square crop, eyes level,
the outer eye corners at (0.3, 0.36) and (0.7, 0.36) of its side, so the inter-ocular distance
is 0.4 of the side and the chin falls near 0.88. An engine returns the same crop with the mouth
it wants; only its lower face (below the nose, inside the stage's feathered mask) is used.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from globalvoice.engines.base import EngineInfo

__all__ = [
    "CANONICAL_EYES",
    "FaceCrop",
    "LineMouths",
    "MouthCue",
    "MouthEngine",
]

# Where the outer eye corners sit in a crop, as fractions of its side (x, y).
CANONICAL_EYES = ((0.3, 0.36), (0.7, 0.36))

Image = npt.NDArray[np.uint8]  # (side, side, 3) RGB


@dataclass(frozen=True, slots=True)
class FaceCrop:
    """A face in the canonical frame, with its mouth as measured in the source frame: opening
    (inner-lip gap) and width (corner to corner), both in inter-ocular distances."""

    image: Image
    opening: float
    width: float


@dataclass(frozen=True, slots=True)
class MouthCue:
    """One dubbed line on one face: what its mouths are made from.

    `targets[i]` is the (opening, width) the mouth should show in the line's frame i, in
    inter-ocular distances, from the dubbed speech's phonemes (or its loudness when the voice
    engine gives none; the width is then NaN: free). `speech` is the line's dubbed speech,
    16 kHz mono, its sample 0 at the start of the line's first frame. `bank` holds the
    speaker's own faces from the same shot."""

    fps: float
    targets: npt.NDArray[np.float32]  # (frames, 2)
    speech: npt.NDArray[np.float32]
    bank: Sequence[FaceCrop]

    @property
    def frames(self) -> int:
        return len(self.targets)


class LineMouths(Protocol):
    def mouth(self, offset: int, face: FaceCrop) -> Image:
        """The crop to show in the line's frame `offset`, given that frame's own face."""
        ...


class MouthEngine(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def line(self, cue: MouthCue) -> LineMouths:
        """Prepare one line (a path through the bank, the speech features...)."""
        ...
