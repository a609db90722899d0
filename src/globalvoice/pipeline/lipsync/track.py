"""Faces followed through a video, shot by shot, with their mouth opening per frame.

Frames are decoded one at a time (PyAV) and dropped once measured: memory grows only with the
per-frame figures kept (a few landmarks per face, ~120 bytes), never with the pictures. The
landmarker sees each frame scaled down to at most `MESH_SIDE` pixels wide (the mesh model works
on a 192-pixel face crop whatever the frame's size); landmarks are scaled back to the frame.
An observer may look at each full frame with the faces found in it (the lipsync stage collects
its mouth images so, in the same pass). At each shot change
the landmarker restarts and every track ends, so a face is never followed across a cut.
Within a shot a face continues the track whose last centre is nearest, if within half its
inter-ocular distance per frame missed; otherwise it starts a new track.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from globalvoice.engines.face.protocol import FaceLandmarker, FaceMesh
from globalvoice.pipeline.lipsync.geometry import KEPT_POINTS
from globalvoice.pipeline.lipsync.shots import ShotDetector
from globalvoice.pipeline.lipsync.sync import EYE_OUTER, mouth_opening

__all__ = ["MESH_SIDE", "FaceTrack", "FrameObserver", "VideoFaces", "track_faces"]

_NOSE_TIP = 1
MESH_SIDE = 640
_KEPT = list(KEPT_POINTS)


@dataclass(slots=True)
class FaceTrack:
    """One face through consecutive frames of one shot."""

    track_id: int
    shot: int
    first_frame: int
    mouth: list[float] = field(default_factory=list)  # per frame from first_frame; NaN: missed
    eye_distance_px: list[float] = field(default_factory=list)
    points: list[npt.NDArray[np.float32] | None] = field(default_factory=list)  # KEPT_POINTS
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
        self.points += [None] * gap

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
    times_s: tuple[float, ...] = ()  # each frame's presentation time from the stream's start

    def frame_times(self) -> npt.NDArray[np.float64]:
        """Each frame's time in seconds (i / fps where the times were not recorded)."""
        if len(self.times_s) == self.frames:
            return np.asarray(self.times_s, dtype=np.float64)
        return np.arange(self.frames, dtype=np.float64) / self.fps


# Called with each frame's index, its shot, the decoded frame (PyAV) and the faces found in it,
# each with the track it joined and its full 478-point mesh in frame pixels.
FrameObserver = Callable[[int, int, Any, list[tuple[FaceTrack, FaceMesh]]], None]


def _video_facts(video: Path) -> tuple[float, int, int]:
    """Frame rate, width and height of the first video stream."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        return rate, stream.codec_context.width, stream.codec_context.height


def _frames(video: Path) -> Iterator[tuple[Any, npt.NDArray[np.uint8], float]]:
    """The video's frames, decoded one at a time: the frame, an RGB copy at most `MESH_SIDE`
    wide, and its time in seconds from the stream's start."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        base = float(stream.time_base or 0)
        for frame in container.decode(stream):
            scale = min(1.0, MESH_SIDE / max(1, frame.width))
            width = max(2, round(frame.width * scale / 2) * 2)
            height = max(2, round(frame.height * scale / 2) * 2)
            small = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
            time_s = (frame.pts - start) * base if frame.pts is not None else float("nan")
            yield frame, np.asarray(small, dtype=np.uint8), time_s


class _Tracker:
    def __init__(self) -> None:
        self.live: list[FaceTrack] = []
        self.done: list[FaceTrack] = []

    def end_all(self) -> None:
        self.done += self.live
        self.live = []

    def add(
        self, index: int, shot: int, faces: tuple[FaceMesh, ...]
    ) -> list[tuple[FaceTrack, FaceMesh]]:
        free = list(self.live)
        joined = []
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
            track.points.append(np.asarray(points[_KEPT], dtype=np.float32))
            track.centre, track.missed = centre, 0
            joined.append((track, face))
        for track in free:
            track.missed += 1
        return joined


def _nearest(tracks: list[FaceTrack], centre: tuple[float, float], eyes: float) -> FaceTrack | None:
    best, best_distance = None, float("inf")
    for track in tracks:
        distance = float(np.hypot(centre[0] - track.centre[0], centre[1] - track.centre[1]))
        if distance <= 0.5 * eyes * (track.missed + 1) and distance < best_distance:
            best, best_distance = track, distance
    return best


def track_faces(
    video: Path,
    landmarker: FaceLandmarker,
    shots: ShotDetector | None = None,
    observer: FrameObserver | None = None,
) -> VideoFaces:
    """Every face in `video`, followed shot by shot, with its mouth opening per frame."""
    detector = shots or ShotDetector()
    tracker = _Tracker()
    shot_starts: list[int] = []
    times: list[float] = []
    fps, width, height = _video_facts(video)
    count = 0
    for index, (frame, small, time_s) in enumerate(_frames(video)):
        if detector.is_cut(small):
            shot_starts.append(index)
            tracker.end_all()
            landmarker.restart()
        scale = np.array(
            [frame.width / small.shape[1], frame.height / small.shape[0]], dtype=np.float32
        )
        faces = tuple(FaceMesh(points=f.points * scale) for f in landmarker.faces(small))
        joined = tracker.add(index, len(shot_starts) - 1, faces)
        if observer is not None:
            observer(index, len(shot_starts) - 1, frame, joined)
        times.append(time_s)
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
        times_s=_regular(times, fps),
    )


def _regular(times: list[float], fps: float) -> tuple[float, ...]:
    """The recorded times, with any missing (no timestamp) filled from the frame rate."""
    known = np.asarray(times, dtype=np.float64)
    if np.isnan(known).all():
        return tuple(float(i / fps) for i in range(len(times)))
    index = np.arange(len(known))
    good = ~np.isnan(known)
    return tuple(float(t) for t in np.interp(index, index[good], known[good]))
