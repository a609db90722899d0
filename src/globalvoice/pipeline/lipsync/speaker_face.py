"""Which face speaks a line: of the faces in view while it plays, the one whose mouth moves with
the line's source dialogue (the sync measure at lag 0 +-1 frame), if any moves enough.

A face too small to redraw (inter-ocular distance under `min_eye_px`), turned away (its nose
more than `max_turn` inter-ocular distances off the eyes' middle) or seen in too few of the
line's frames is not a candidate; the choice says why no face was taken, for the manifest.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from globalvoice.pipeline.lipsync.geometry import EYES, KEPT_POINTS, NOSE_BASE
from globalvoice.pipeline.lipsync.sync import sync_measure
from globalvoice.pipeline.lipsync.track import FaceTrack, VideoFaces

_KEPT = {index: position for position, index in enumerate(KEPT_POINTS)}

__all__ = ["FaceChoice", "FacePolicy", "choose_face"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FacePolicy:
    min_eye_px: float = 24.0  # ~ a 60 px wide face: its mouth is a few pixels tall below this
    min_seen: float = 0.8  # share of the line's frames the face must be found in
    min_sync: float = 0.15  # in-sync talking heads measure 0.3-0.7, other speech about 0.0-0.1
    # how far the nose sits off the eyes' middle, in inter-ocular distances: a mouth patch
    # aligned on the eyes only holds for faces near frontal (GRID's: 0.01-0.06)
    max_turn: float = 0.3
    # False (lip-sync "on"): the best candidate face is redrawn even when no mouth is seen to
    # move with the source dialogue (a voice-over, a face filmed apart from its sound)
    require_sync: bool = True


@dataclass(frozen=True, slots=True)
class FaceChoice:
    track_id: int | None  # None: no face is redrawn for this line
    sync: float | None  # the chosen face's (or best candidate's) sync with the source dialogue
    reason: str


def face_turn(track: FaceTrack, frames: tuple[int, int]) -> float:
    """The median, over the track's frames within `frames`, of how far its nose base sits
    sideways from the middle of its eyes, in inter-ocular distances (0: frontal)."""
    offsets = []
    for index in range(max(frames[0], track.first_frame), min(frames[1], track.last_frame + 1)):
        points = track.points[index - track.first_frame]
        if points is None:
            continue
        left, right = points[_KEPT[EYES[0]]], points[_KEPT[EYES[1]]]
        eyes = float(np.linalg.norm(right - left))
        if eyes > 0:
            middle = (left + right) / 2
            across = (right - left) / eyes
            nose = points[_KEPT[NOSE_BASE]] - middle
            offsets.append(abs(float(nose @ across)) / eyes)
    return float(np.median(offsets)) if offsets else 0.0


def choose_face(
    faces: VideoFaces,
    envelope: npt.NDArray[np.float64],
    frames: tuple[int, int],
    policy: FacePolicy = FacePolicy(),
) -> FaceChoice:
    """The face that speaks frames [first, last) of the video, given the source dialogue's
    envelope (`sync.speech_envelope`, one value per frame of the whole video)."""
    first, last = frames
    candidates: list[tuple[float, int]] = []
    small = seldom = turned = 0
    for track in faces.tracks:
        mouth = track.mouth_series(faces.frames)[first:last]
        seen = ~np.isnan(mouth)
        if not seen.any():
            continue
        if seen.mean() < policy.min_seen:
            seldom += 1
            continue
        eyes = np.asarray(track.eye_distance_px, dtype=np.float64)
        if float(np.nanmedian(eyes)) < policy.min_eye_px:
            small += 1
            continue
        if face_turn(track, frames) > policy.max_turn:
            turned += 1
            continue
        candidates.append((sync_measure(mouth, envelope[first:last]).at_zero, track.track_id))
    if not candidates:
        if small:
            return FaceChoice(track_id=None, sync=None, reason="face too small")
        if turned:
            return FaceChoice(track_id=None, sync=None, reason="face turned away")
        if seldom:
            return FaceChoice(track_id=None, sync=None, reason="face in view too briefly")
        return FaceChoice(track_id=None, sync=None, reason="no face in view")
    sync, track_id = max(candidates)
    if sync < policy.min_sync:
        if not policy.require_sync:
            return FaceChoice(
                track_id=track_id, sync=sync, reason="face in view (not seen speaking)"
            )
        return FaceChoice(track_id=None, sync=sync, reason="no face moves with the speech")
    return FaceChoice(track_id=track_id, sync=sync, reason="speaking face")
