"""Faces followed through a video, shot by shot, with their mouth opening per frame.

Frames are decoded one at a time (PyAV) and dropped once measured: memory grows only with the
per-frame figures kept (a few numbers per face), never with the pictures. At each shot change
the landmarker restarts and every track ends, so a face is never followed across a cut.
Within a shot a face continues the track whose last centre is nearest, if within half its
inter-ocular distance per frame missed; otherwise it starts a new track.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.engines.face.protocol import FaceLandmarker, FaceMesh
from globalvoice.pipeline.lipsync.shots import ShotDetector
from globalvoice.pipeline.lipsync.sync import EYE_OUTER, mouth_opening

__all__ = ["FaceTrack", "VideoFaces", "track_faces"]

_NOSE_TIP = 1


@dataclass(slots=True)
class FaceTrack:
    """One face through consecutive frames of one shot."""

    track_id: int
    shot: int
    first_frame: int
    mouth: list[float] = field(default_factory=list)  # per frame from first_frame; NaN: missed
    eye_distance_px: list[float] = field(default_factory=list)
    centre: tuple[float, float] = (0.0, 0.0)  # where it was last seen
    missed: int = 0  # frames since it was last seen

    @property
    def last_frame(self) -> int:
        return self.first_frame + len(self.mouth) - 1

    def pad_to(self, frame: int) -> None:
        """Mark the frames after the last seen, up to `frame`, as missed."""
        gap = max(0, frame - self.last_frame)
        self.mouth += [float("nan")] * gap
        self.eye_distance_px += [float("nan")] * gap

    def mouth_series(self, frames: int) -> npt.NDArray[np.float64]:
        """Its mouth opening over the whole video (NaN outside the track)."""
        series = np.full(frames, np.nan)
        series[self.first_frame : self.first_frame + len(self.mouth)] = self.mouth
        return series


@dataclass(frozen=True, slots=True)
class VideoFaces:
    fps: float
    frames: int
    width: int
    height: int
    shot_starts: tuple[int, ...]  # the first frame of each shot
    tracks: tuple[FaceTrack, ...]


def _video_facts(video: Path) -> tuple[float, int, int]:
    """Frame rate, width and height of the first video stream."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        return rate, stream.codec_context.width, stream.codec_context.height


def _frames(video: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """The video's frames as RGB arrays, decoded one at a time."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


class _Tracker:
    def __init__(self) -> None:
        self.live: list[FaceTrack] = []
        self.done: list[FaceTrack] = []

    def end_all(self) -> None:
        self.done += self.live
        self.live = []

    def add(self, index: int, shot: int, faces: tuple[FaceMesh, ...]) -> None:
        free = list(self.live)
        for face in faces:
            points = face.points
            centre = (float(points[_NOSE_TIP][0]), float(points[_NOSE_TIP][1]))
            eyes = float(np.linalg.norm(points[EYE_OUTER[0]] - points[EYE_OUTER[1]]))
            track = _nearest(free, centre, eyes)
            if track is None:
                track_id = len(self.done) + len(self.live)
                track = FaceTrack(track_id=track_id, shot=shot, first_frame=index)
                self.live.append(track)
            else:
                free.remove(track)
            track.pad_to(index - 1)
            track.mouth.append(mouth_opening(points))
            track.eye_distance_px.append(eyes)
            track.centre, track.missed = centre, 0
        for track in free:
            track.missed += 1


def _nearest(tracks: list[FaceTrack], centre: tuple[float, float], eyes: float) -> FaceTrack | None:
    best, best_distance = None, float("inf")
    for track in tracks:
        distance = float(np.hypot(centre[0] - track.centre[0], centre[1] - track.centre[1]))
        if distance <= 0.5 * eyes * (track.missed + 1) and distance < best_distance:
            best, best_distance = track, distance
    return best


def track_faces(
    video: Path, landmarker: FaceLandmarker, shots: ShotDetector | None = None
) -> VideoFaces:
    """Every face in `video`, followed shot by shot, with its mouth opening per frame."""
    detector = shots or ShotDetector()
    tracker = _Tracker()
    shot_starts: list[int] = []
    fps, width, height = _video_facts(video)
    count = 0
    for index, frame in enumerate(_frames(video)):
        if detector.is_cut(frame):
            shot_starts.append(index)
            tracker.end_all()
            landmarker.restart()
        tracker.add(index, len(shot_starts) - 1, landmarker.faces(frame))
        count = index + 1
    tracker.end_all()
    for track in tracker.done:  # pad each track to its shot's last frame
        track.pad_to(next((s for s in shot_starts if s > track.first_frame), count) - 1)
    return VideoFaces(
        fps=fps,
        frames=count,
        width=width,
        height=height,
        shot_starts=tuple(shot_starts),
        tracks=tuple(sorted(tracker.done, key=lambda t: t.track_id)),
    )
