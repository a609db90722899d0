"""The lipsync stage on real talking heads (../shared/media/video/grid) and on awkward inputs.

Figures measured on a 2-core AMD EPYC with AVX-512 VNNI; floors sit well under them (MediaPipe's
landmarks and x264's output differ slightly between CPU kinds; none of the floors is within
0.1 of a figure measured here). The "dubbed speech" is an LJ Speech sentence: real speech, other
words and rhythm, so the source's own mouth does not follow it.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from globalvoice.config.settings import PatchLipsyncConfig
from globalvoice.engines.face.mediapipe_mesh import MediaPipeFaceMesh
from globalvoice.engines.lipsync.patch import PatchMouthEngine
from globalvoice.pipeline.lipsync.quality import compare_videos
from globalvoice.pipeline.lipsync.render import BLOCK_FRAMES
from globalvoice.pipeline.lipsync.speaker_face import FacePolicy
from globalvoice.pipeline.lipsync.stage import (
    LipsyncJob,
    LipsyncLine,
    LipsyncTools,
    lipsync_video,
)
from tests.conftest import ffmpeg

GRID = ("bbaf2n", "brbk7n", "lbax4n", "lrwp9a", "pwij3p", "sbwe5n")


class FolderBlocks:
    """Blocks kept in a folder; counts what was stored."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.stored: list[int] = []

    def get(self, index: int, path: Path) -> bool:
        kept = self.folder / f"{index}.mp4"
        if not kept.exists():
            return False
        path.write_bytes(kept.read_bytes())
        return True

    def put(self, index: int, path: Path) -> None:
        (self.folder / f"{index}.mp4").write_bytes(path.read_bytes())
        self.stored.append(index)


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[PatchMouthEngine, MediaPipeFaceMesh, MediaPipeFaceMesh]]:
    yield (
        PatchMouthEngine(PatchLipsyncConfig()),
        MediaPipeFaceMesh(),
        MediaPipeFaceMesh(max_faces=1),
    )


def _tools(engines: tuple, blocks: FolderBlocks, *, require_sync: bool = True) -> LipsyncTools:
    engine, landmarker, measure = engines
    return LipsyncTools(
        engine=engine,
        landmarker=landmarker,
        measure=measure,
        blocks=blocks,
        policy=FacePolicy(require_sync=require_sync),
    )


def _wav(source: Path, out: Path) -> Path:
    ffmpeg("-i", str(source), "-vn", "-ac", "1", "-ar", "24000", "-c:a", "pcm_f32le", str(out))
    return out


def _one_line(video: Path, dub: Path, out: Path, start_ms: int, end_ms: int) -> LipsyncJob:
    line = LipsyncLine(line_id="l1", source_ms=(start_ms, end_ms), dub_ms=(start_ms, end_ms))
    return LipsyncJob(video=video, lines=(line,), dub_speech=dub, source_dialogue=video, out=out)


def _frame_pts(path: Path) -> list[float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base or 0)
        start = stream.start_time or 0
        return [round((f.pts - start) * base, 4) for f in container.decode(stream)]


def test_each_grid_speaker_says_the_new_words(media: Path, engines: tuple, tmp_path: Path) -> None:
    """Each GRID clip redrawn to the first 2.8 s of an LJ Speech sentence (driven by its
    loudness: these dubs have no phonemes). Measured: output sync at lag 0 (+-1) 0.50-0.77
    (median 0.63), untouched -0.25-0.33, output minus untouched +0.17 (brbk7n, whose own
    mouth happens to follow LJ001-0002 at 0.33) to +1.0; best lag 0 for all six; PSNR outside
    the lower face 42.1-42.8 dB; mouth flicker 0.72-1.04x the source's."""
    grid = media / "video" / "grid"
    for index, name in enumerate(GRID):
        video = grid / f"{name}.mpg"
        dub = _wav(
            media / "speech" / "ljspeech" / f"LJ001-000{index + 1}.wav", tmp_path / f"{name}.wav"
        )
        out = tmp_path / f"{name}.lipsync.mp4"
        job = _one_line(video, dub, out, 100, 2900)
        # brbk7n's mouth follows even its own sound weakly (0.14): redrawn under lip-sync "on"
        tools = _tools(engines, FolderBlocks(tmp_path / name), require_sync=False)
        report = lipsync_video(job, tools)
        (line,) = report.lines
        assert report.redrawn and line.redrawn, (name, line)
        assert line.output is not None and line.untouched is not None
        quality = compare_videos(video, out, engines[2], (0, report.frames))
        assert line.output.at_zero >= 0.35, (name, line)
        assert line.output.at_zero >= line.untouched.at_zero + 0.10, (name, line)
        assert abs(line.output.best_lag) <= 1, (name, line)
        assert quality.psnr_outside_db >= 38.0, (name, quality)
        assert quality.flicker_ratio <= 1.5, (name, quality)
        assert _frame_pts(out) == _frame_pts(video)


def test_a_stopped_run_resumes_after_its_last_stored_block(
    media: Path, engines: tuple, tmp_path: Path
) -> None:
    video = tmp_path / "long.mp4"
    clip = media / "video" / "grid" / "pwij3p.mpg"
    ffmpeg(
        "-stream_loop",
        "3",
        "-i",
        str(clip),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "aac",
        str(video),
    )
    dub = _wav(media / "video" / "grid" / "sbwe5n.mpg", tmp_path / "dub.wav")
    blocks = FolderBlocks(tmp_path / "blocks")
    whole = lipsync_video(
        _one_line(video, dub, tmp_path / "whole.mp4", 100, 11_000), _tools(engines, blocks)
    )
    # the looped MPEG-PS keeps 264 frames with a gap at each join: timestamps, not counts
    assert BLOCK_FRAMES < whole.frames <= 2 * BLOCK_FRAMES
    assert whole.blocks == 2 and blocks.stored == [0, 1]
    assert _frame_pts(tmp_path / "whole.mp4") == _frame_pts(video)
    (blocks.folder / "1.mp4").unlink()  # stopped after the first block
    again = FolderBlocks(blocks.folder)
    resumed = lipsync_video(
        _one_line(video, dub, tmp_path / "resumed.mp4", 100, 11_000), _tools(engines, again)
    )
    assert resumed.resumed_blocks == 1 and again.stored == [1]
    assert _frame_pts(tmp_path / "resumed.mp4") == _frame_pts(video)


def test_no_face_leaves_the_picture_alone(media: Path, engines: tuple, tmp_path: Path) -> None:
    video = tmp_path / "noface.mp4"
    speech = media / "speech" / "jfk.flac"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-i",
        str(speech),
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-shortest",
        str(video),
    )
    dub = _wav(speech, tmp_path / "dub.wav")
    report = lipsync_video(
        _one_line(video, dub, tmp_path / "out.mp4", 200, 3500),
        _tools(engines, FolderBlocks(tmp_path / "b")),
    )
    assert not report.redrawn and report.lines[0].face == "no face in view"
    assert not (tmp_path / "out.mp4").exists()


def test_a_still_image_is_not_a_speaking_face_unless_asked(
    media: Path, engines: tuple, tmp_path: Path
) -> None:
    still = tmp_path / "still.png"
    clip = media / "video" / "grid" / "lbax4n.mpg"
    ffmpeg("-ss", "1", "-i", str(clip), "-frames:v", "1", str(still))
    video = tmp_path / "still.mp4"
    ffmpeg(
        "-loop",
        "1",
        "-i",
        str(still),
        "-i",
        str(clip),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-t",
        "3",
        "-r",
        "25",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(video),
    )
    dub = _wav(media / "video" / "grid" / "bbaf2n.mpg", tmp_path / "dub.wav")
    auto = lipsync_video(
        _one_line(video, dub, tmp_path / "auto.mp4", 100, 2900),
        _tools(engines, FolderBlocks(tmp_path / "a")),
    )
    assert not auto.redrawn
    assert auto.lines[0].face in {
        "no face moves with the speech",
        "face not seen long enough to redraw",
    }
    forced = lipsync_video(
        _one_line(video, dub, tmp_path / "on.mp4", 100, 2900),
        _tools(engines, FolderBlocks(tmp_path / "o"), require_sync=False),
    )
    # a still has one mouth image: nothing to retrieve, so the line is left as it is, said why
    assert forced.lines[0].face in {
        "face in view (not seen speaking)",
        "face not seen long enough to redraw",
    }


def test_only_the_speaking_face_of_two_is_redrawn(
    media: Path, engines: tuple, tmp_path: Path
) -> None:
    grid = media / "video" / "grid"
    video = tmp_path / "two.mp4"
    ffmpeg(
        "-i",
        str(grid / "bbaf2n.mpg"),
        "-i",
        str(grid / "sbwe5n.mpg"),
        "-filter_complex",
        "[0:v][1:v]hstack=inputs=2[v]",
        "-map",
        "[v]",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "16",
        "-c:a",
        "aac",
        str(video),
    )
    dub = _wav(grid / "lrwp9a.mpg", tmp_path / "dub.wav")
    out = tmp_path / "out.mp4"
    report = lipsync_video(
        _one_line(video, dub, out, 100, 2900), _tools(engines, FolderBlocks(tmp_path / "b"))
    )
    assert report.redrawn and report.faces == 2
    import av

    def halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        stack = np.stack(frames).astype(np.float64)
        return stack[:, :, :360], stack[:, :, 360:]

    (left_src, right_src), (left_out, right_out) = halves(video), halves(out)
    mouths = (slice(None), slice(170, 260), slice(110, 250))  # both speakers' lower faces
    eyes = (slice(None), slice(60, 150), slice(110, 250))

    def change(out: np.ndarray, src: np.ndarray) -> float:
        """How much more the lower face changed than the eyes (which only re-encoding does)."""
        return float(np.abs(out - src)[mouths].mean() / np.abs(out - src)[eyes].mean())

    left, right = change(left_out, left_src), change(right_out, right_src)
    # the speaker (right, whose sound it is) is redrawn around the mouth; the other face only
    # re-encoded. Measured: left 1.03x, right 1.38x.
    assert left < 1.15 < 1.25 < right, (left, right)


def test_awkward_pictures_give_a_dub(media: Path, engines: tuple, tmp_path: Path) -> None:
    """Portrait, 4K, variable frame rate and a face that appears mid-line: each redrawn or
    left with a reason, the frames' times and size kept."""
    clip = media / "video" / "grid" / "bbaf2n.mpg"
    dub = _wav(media / "speech" / "ljspeech" / "LJ001-0003.wav", tmp_path / "dub.wav")
    variants = {
        "portrait": ["-vf", "pad=360:640:0:176"],
        "4k": ["-vf", "scale=3840:2160", "-t", "0.8"],
        "vfr": ["-vf", "setpts='(N*0.04+0.012*mod(N,3))/TB'", "-fps_mode", "vfr"],
        "late-face": ["-vf", "drawbox=enable='lt(t,1.2)':color=black:t=fill"],
    }
    for name, args in variants.items():
        video = tmp_path / f"{name}.mp4"
        ffmpeg(
            "-i",
            str(clip),
            *args,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-c:a",
            "aac",
            str(video),
        )
        out = tmp_path / f"{name}.out.mp4"
        report = lipsync_video(
            _one_line(video, dub, out, 100, 700 if name == "4k" else 2900),
            _tools(engines, FolderBlocks(tmp_path / name)),
        )
        (line,) = report.lines
        if name == "late-face":
            assert line.face in {"face in view too briefly", "speaking face"}, line
        else:
            assert report.redrawn and line.redrawn, (name, line)
        if report.redrawn:
            assert _frame_pts(out) == _frame_pts(video), name
            import av

            with av.open(str(out)) as a, av.open(str(video)) as b:
                sizes = [(c.streams.video[0].width, c.streams.video[0].height) for c in (a, b)]
            assert sizes[0] == sizes[1], name
