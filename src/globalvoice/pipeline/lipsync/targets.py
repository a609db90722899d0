"""What the mouth should do in each frame of a dubbed line, in the speaker's own range.

From the dubbed speech's phonemes (visemes.viseme_frames): each viseme's opening and width
(visemes.SHAPES) mapped onto this face's own range (its closed and wide-open openings are the
5th and 95th percentiles of what it does in the video; its width at rest is its median width
with the mouth nearly closed), lightly smoothed for coarticulation, closures kept closed.
Without phonemes (a voice engine that gives none): the speech band's loudness, rank-mapped
onto the face's openings while speaking (the prototype's way), closed in silence.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from globalvoice.domain.render import TimedPhoneme
from globalvoice.pipeline.lipsync.geometry import mouth_width
from globalvoice.pipeline.lipsync.track import FaceTrack
from globalvoice.pipeline.lipsync.visemes import SHAPES, Viseme, viseme_frames

__all__ = [
    "VISEME_WEIGHT",
    "LineSpeech",
    "MouthRange",
    "energy_targets",
    "mouth_range",
    "viseme_targets",
]

_WIDEST_VISEME = max(shape.opening for shape in SHAPES.values())
_SMOOTH = np.array([0.25, 0.5, 0.25])
VISEME_WEIGHT = 0.4


@dataclass(frozen=True, slots=True)
class MouthRange:
    closed: float  # opening, inter-ocular distances
    open: float
    rest_width: float  # mouth width at rest, inter-ocular distances


def mouth_range(track: FaceTrack) -> MouthRange:
    openings = np.asarray(track.mouth, dtype=np.float64)
    openings = openings[~np.isnan(openings)]
    widths = np.array([mouth_width(p) if p is not None else np.nan for p in track.points])
    if not len(openings):
        return MouthRange(closed=0.0, open=0.3, rest_width=1.0)
    closed, wide = float(np.percentile(openings, 5)), float(np.percentile(openings, 95))
    seen = ~np.isnan(widths)
    nearly_closed = seen & (np.nan_to_num(np.asarray(track.mouth)) <= np.percentile(openings, 30))
    rest = widths[nearly_closed] if nearly_closed.any() else widths[seen]
    rest_width = float(np.median(rest)) if len(rest) else 1.0
    return MouthRange(closed=closed, open=max(wide, closed + 0.02), rest_width=rest_width)


@dataclass(frozen=True, slots=True)
class LineSpeech:
    """A dubbed line as the mouth should follow it: its phonemes (timeline times), where its
    first frame starts, and its loudness per frame (sync.speech_envelope's)."""

    phonemes: Sequence[TimedPhoneme]
    start_ms: float
    envelope: npt.NDArray[np.float64]


def viseme_targets(speech: LineSpeech, *, fps: float, face: MouthRange) -> npt.NDArray[np.float32]:
    """(frames, 2) opening and width for the line's frames. The opening is the viseme's and
    the loudness's, mixed `VISEME_WEIGHT` to the rest: a jaw opens with the voice's energy
    (an o or an i is loud with a small viseme opening), the viseme adds the shape."""
    frames = len(speech.envelope)
    shifted = [
        TimedPhoneme(p.phoneme, p.start_ms - speech.start_ms, p.end_ms - speech.start_ms)
        for p in speech.phonemes
    ]
    shown = viseme_frames(shifted, fps=fps, frames=frames)
    span = face.open - face.closed
    by_viseme = np.array([face.closed + SHAPES[v].opening / _WIDEST_VISEME * span for v in shown])
    by_loudness = energy_targets(speech.envelope, face=face)[:, 0].astype(np.float64)
    opening = VISEME_WEIGHT * by_viseme + (1 - VISEME_WEIGHT) * by_loudness
    width = np.array([face.rest_width * SHAPES[v].width for v in shown])
    opening, width = _smoothed(opening), _smoothed(width)
    closed = np.array([v is Viseme.CLOSED for v in shown])
    opening[closed] = face.closed
    return np.stack([opening, width], axis=1).astype(np.float32)


def energy_targets(
    envelope: npt.NDArray[np.float64], *, face: MouthRange
) -> npt.NDArray[np.float32]:
    """(frames, 2) from the dubbed speech's log energy per frame (sync.speech_envelope); the
    width is NaN (free)."""
    low, high = np.percentile(envelope, 20), np.percentile(envelope, 95)
    speaking = envelope > low + 0.35 * (high - low)
    opening = np.full(len(envelope), face.closed)
    if speaking.sum() > 3:
        energy = envelope[speaking]
        ranks = (np.argsort(np.argsort(energy)) + 0.5) / len(energy)
        opening[speaking] = face.closed + ranks * (face.open - face.closed)
    opening = _smoothed(opening)
    width = np.full(len(envelope), np.nan)  # loudness says nothing of the mouth's width
    return np.stack([opening, width], axis=1).astype(np.float32)


def _smoothed(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if len(values) < 3:
        return values
    return np.asarray(np.convolve(np.pad(values, 1, mode="edge"), _SMOOTH, mode="valid"))
