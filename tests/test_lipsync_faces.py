"""The lipsync stage's measurements on the GRID talking heads (../shared/media/video/grid, six
speakers, 3 s each, 25 fps): faces followed frame by frame, shot changes, and the sync measure
between a mouth and a soundtrack. Figures measured on a 2-core AMD EPYC with AVX-512 VNNI."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from globalvoice.engines.face.mediapipe_mesh import MediaPipeFaceMesh
from globalvoice.media.pcm import decode_audio
from globalvoice.pipeline.lipsync.geometry import KEPT_POINTS, NOSE_BASE
from globalvoice.pipeline.lipsync.speaker_face import choose_face, face_turn
from globalvoice.pipeline.lipsync.sync import speech_envelope, sync_measure
from globalvoice.pipeline.lipsync.track import VideoFaces, track_faces
from tests.conftest import ffmpeg

CLIPS = ("bbaf2n", "brbk7n", "lbax4n", "lrwp9a", "pwij3p", "sbwe5n")


@pytest.fixture(scope="module")
def landmarker() -> Iterator[MediaPipeFaceMesh]:
    yield MediaPipeFaceMesh()


@pytest.fixture(scope="module")
def grid(media: Path, landmarker: MediaPipeFaceMesh) -> dict[str, tuple[VideoFaces, Path]]:
    clips = {}
    for name in CLIPS:
        path = media / "video" / "grid" / f"{name}.mpg"
        clips[name] = (track_faces(path, landmarker), path)
    return clips


def test_each_speaker_is_one_face_followed_through_every_frame(
    grid: dict[str, tuple[VideoFaces, Path]],
) -> None:
    for name, (faces, _) in grid.items():
        assert (faces.frames, faces.fps, faces.width, faces.height) == (75, 25.0, 360, 288)
        assert faces.shot_starts == (0,), name
        (track,) = faces.tracks
        mouth = track.mouth_series(faces.frames)
        assert not np.isnan(mouth).any(), name
        # the mouth opens and closes: inner-lip gap 0 to about 0.3 inter-ocular distances
        assert 0.0 <= float(mouth.min()) < 0.05 < 0.1 < float(mouth.max()) < 0.6, name


def _envelope(faces: VideoFaces, path: Path) -> np.ndarray:
    return speech_envelope(decode_audio(path, rate_hz=16_000), fps=faces.fps, frames=faces.frames)


def test_the_sync_measure_tells_in_sync_from_out_of_sync(
    grid: dict[str, tuple[VideoFaces, Path]],
) -> None:
    """Measured, per clip, at lag 0 +-1: with its own sound 0.14-0.68 (median 0.42), with its
    sound moved 1.5 s round (np.roll) -0.25 to 0.25 (median -0.14). Floors on the medians:
    0.30 and 0.10; the gap at least 0.25."""
    own, moved = [], []
    for faces, path in grid.values():
        mouth = faces.tracks[0].mouth_series(faces.frames)
        envelope = _envelope(faces, path)
        own.append(sync_measure(mouth, envelope).at_zero)
        moved.append(sync_measure(mouth, np.roll(envelope, 37)).at_zero)
    assert float(np.median(own)) >= 0.30, own
    assert float(np.median(moved)) <= 0.10, moved
    assert float(np.median(own)) - float(np.median(moved)) >= 0.25


def test_the_sync_measure_finds_a_three_frame_delay(
    grid: dict[str, tuple[VideoFaces, Path]],
) -> None:
    """The sound 3 frames late: best lag 3 in the median (measured 2-4 on five clips; the
    sixth, brbk7n, correlates weakly even in sync and lands at -12)."""
    lags = []
    for faces, path in grid.values():
        mouth = faces.tracks[0].mouth_series(faces.frames)
        envelope = _envelope(faces, path)
        late = np.concatenate([np.full(3, envelope[0]), envelope[:-3]])
        lags.append(sync_measure(mouth, late).best_lag)
    assert abs(float(np.median(lags)) - 3) <= 1, lags


def test_a_cut_between_speakers_starts_a_new_shot_and_new_tracks(
    media: Path, tmp_path: Path, landmarker: MediaPipeFaceMesh
) -> None:
    """The six clips back to back: a shot starts at each clip's first frame and nowhere else
    (histogram distance 0.04-0.08 inside a clip, 0.17-0.86 across; threshold 0.15), and every
    face is followed within its own shot only. The margin at the closest join (lbax4n ->
    lrwp9a) is 0.02, on frames that are the same on every CPU: x264 and its decoder are
    bit-exact whatever the SIMD, and the histograms are numpy on those pixels."""
    listing = tmp_path / "clips.txt"
    listing.write_text(
        "".join(f"file '{media / 'video' / 'grid' / f'{name}.mpg'}'\n" for name in CLIPS)
    )
    joined = tmp_path / "joined.mp4"
    ffmpeg(
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-c:v", "libx264", "-preset", "ultrafast", "-an", str(joined),
    )  # fmt: skip
    faces = track_faces(joined, landmarker)
    # the concat demuxer may drop a frame at a join: each cut within one frame of 75 * i
    starts = faces.shot_starts
    assert len(starts) == len(CLIPS)
    assert all(abs(start - 75 * index) <= 1 for index, start in enumerate(starts)), starts
    ends = [*starts[1:], faces.frames]
    assert [(t.shot, t.first_frame, len(t.mouth)) for t in faces.tracks] == [
        (index, start, end - start)
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


@pytest.mark.parametrize(("left", "right"), [("bbaf2n", "lbax4n"), ("pwij3p", "sbwe5n")])
def test_of_two_faces_the_one_that_speaks_is_chosen(
    left: str, right: str, media: Path, tmp_path: Path, landmarker: MediaPipeFaceMesh
) -> None:
    """Two speakers side by side, each clip's own sound in turn: its face is chosen (measured
    sync 0.39-0.67). Measured 7 of 8 on four pairs: brbk7n, whose mouth follows even its own
    sound weakly (0.14), loses to its neighbour; it is left out here."""
    grid = media / "video" / "grid"
    both = tmp_path / "both.mp4"
    ffmpeg(
        "-i", str(grid / f"{left}.mpg"), "-i", str(grid / f"{right}.mpg"),
        "-filter_complex", "[0:v][1:v]hstack=inputs=2[v]", "-map", "[v]",
        "-c:v", "libx264", "-preset", "ultrafast", str(both),
    )  # fmt: skip
    faces = track_faces(both, landmarker)
    assert len(faces.tracks) == 2
    for name, side in ((left, 0), (right, 1)):
        envelope = _envelope(faces, grid / f"{name}.mpg")
        choice = choose_face(faces, envelope, (0, faces.frames))
        assert choice.track_id is not None and choice.sync is not None, choice
        x = faces.tracks[choice.track_id].centre[0]
        assert (x >= faces.width / 2) == bool(side), (name, choice, x)
        assert choice.sync >= 0.3


def test_no_face_is_taken_when_none_moves_with_the_speech_or_it_is_too_small(
    media: Path, tmp_path: Path, landmarker: MediaPipeFaceMesh, grid: dict[str, Any]
) -> None:
    faces, path = grid["bbaf2n"]
    moved = np.roll(_envelope(faces, path), 37)  # the same voice 1.5 s away: measured 0.04
    choice = choose_face(faces, moved, (0, faces.frames))
    assert (choice.track_id, choice.reason) == (None, "no face moves with the speech")
    small = tmp_path / "small.mp4"
    ffmpeg("-i", str(path), "-vf", "scale=120:96", "-an", "-c:v", "libx264", str(small))
    tiny = track_faces(small, landmarker)
    choice = choose_face(tiny, _envelope(faces, path), (0, tiny.frames))
    assert choice.track_id is None
    assert choice.reason in {"face too small", "no face in view"}, choice


def test_a_face_turned_away_is_not_redrawn(grid: dict[str, tuple[VideoFaces, Path]]) -> None:
    """GRID's faces look at the camera: their nose sits 0.008-0.057 inter-ocular distances off
    the eyes' middle (measured); the same face with its nose moved half an inter-ocular distance
    sideways (a head turned ~30 degrees) is refused, and said so."""
    faces, path = grid["pwij3p"]
    (track,) = faces.tracks
    assert face_turn(track, (0, faces.frames)) < 0.15
    nose = KEPT_POINTS.index(NOSE_BASE)
    turned = dataclasses.replace(
        track, points=[p.copy() if p is not None else None for p in track.points]
    )
    for points in turned.points:
        if points is not None:
            eyes = float(np.linalg.norm(points[1] - points[0]))
            points[nose, 0] += 0.5 * eyes
    assert face_turn(turned, (0, faces.frames)) > 0.4
    sideways = dataclasses.replace(faces, tracks=(turned,))
    choice = choose_face(sideways, _envelope(faces, path), (5, 70))
    assert (choice.track_id, choice.reason) == (None, "face turned away")
