"""The second pass: every frame decoded, the planned faces redrawn, re-encoded, in blocks.

A block is `BLOCK_FRAMES` consecutive frames encoded on their own (H.264, starting on a key
frame) and stored as soon as it is done; a run that stops part-way resumes after the last
stored block. The blocks are joined without re-encoding at the end. Frames keep their
timestamps (variable frame rates stay as they were) and size; outside a plan's faces every
pixel keeps its decoded value.
"""

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from globalvoice.engines.face.protocol import FaceLandmarker
from globalvoice.engines.lipsync.protocol import FaceCrop, LineMouths
from globalvoice.media.ffmpeg import input_arg, run_ffmpeg
from globalvoice.pipeline.lipsync.bank import crop_face
from globalvoice.pipeline.lipsync.geometry import Pose
from globalvoice.pipeline.lipsync.planes import Planes
from globalvoice.pipeline.lipsync.sync import mouth_opening

__all__ = ["BLOCK_FRAMES", "BlockStore", "FacePlan", "render_video"]

BLOCK_FRAMES = 250  # 10 s at 25 fps: what a restart may redo
_RAMP_FRAMES = 3  # a line's redrawn mouth fades in and out over this many frames
# superfast: 7-10 ms a 720p frame where veryfast took 13-20 (2 cores), for ~2x the bytes at
# the same quality; the stage must keep up with real time on two cores.
_PRESET, _CRF = "superfast", "18"


class BlockStore(Protocol):
    def get(self, index: int, path: Path) -> bool:
        """Write block `index`, if stored, to `path`."""
        ...

    def put(self, index: int, path: Path) -> None: ...


@dataclass(slots=True, kw_only=True)
class FacePlan:
    """One line redrawn on one face: frames [first, last) of the video."""

    line_id: str
    first: int
    last: int
    poses: list[Pose | None]  # per frame of the line
    openings: npt.NDArray[np.float64]  # the face's measured opening per frame (NaN: unseen)
    widths: npt.NDArray[np.float64]
    mask: npt.NDArray[np.float32]  # canonical lower-face mask
    mask_box: tuple[int, int, int, int] = (0, 0, 0, 0)  # where the mask is not 0: x0 y0 x1 y1
    # made when the line's first frame is drawn and dropped after its last: a line's mouth
    # images (its face's bank) are in memory only while it plays
    prepare: Callable[[], LineMouths]
    mouths: LineMouths | None = None
    measured: npt.NDArray[np.float64] | None = None  # the output's opening, filled as drawn

    def __post_init__(self) -> None:
        rows, columns = np.nonzero(self.mask > 1 / 255)
        if len(rows):
            self.mask_box = (
                int(columns.min()),
                int(rows.min()),
                int(columns.max()) + 1,
                int(rows.max()) + 1,
            )

    def weight(self, offset: int) -> float:
        frames = self.last - self.first
        edge = min(offset + 1, frames - offset)
        return min(1.0, edge / (_RAMP_FRAMES + 1))


@dataclass(frozen=True, slots=True)
class RenderFigures:
    frames: int
    redrawn: int
    blocks: int
    resumed_blocks: int


def render_video(
    video: Path,
    plans: Sequence[FacePlan],
    out: Path,
    *,
    blocks: BlockStore,
    measure: FaceLandmarker,
    on_block: Callable[[int, int], None] | None = None,
) -> RenderFigures:
    """Write `video` with the plans' faces redrawn to `out` (video only, H.264 in MP4)."""
    import av

    by_frame: dict[int, list[FacePlan]] = {}
    for plan in plans:
        plan.measured = np.full(plan.last - plan.first, np.nan)
        for index in range(plan.first, plan.last):
            by_frame.setdefault(index, []).append(plan)
    work = out.parent / f".{out.name}.blocks"
    work.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    starts: list[float] = []  # each block's first timestamp, seconds
    redrawn = resumed = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = _block_count(stream)
        writer: _BlockWriter | None = None
        for index, frame in enumerate(container.decode(stream)):
            block = index // BLOCK_FRAMES
            if index % BLOCK_FRAMES == 0:
                starts.append(float((frame.pts or 0) * (frame.time_base or 0)))
                if writer is not None:
                    paths.append(writer.close(blocks))
                    if on_block is not None:
                        on_block(len(paths), total)
                path = work / f"{block:06d}.mp4"
                if blocks.get(block, path):
                    writer, resumed = None, resumed + 1
                    paths.append(path)
                    continue
                writer = _BlockWriter(path, block, stream)
            if writer is None:
                continue  # a stored block
            planned = by_frame.get(index, [])
            if planned:
                planes = Planes(frame)
                for plan in planned:
                    redrawn += _redraw(planes, plan, index - plan.first, measure)
                frame = planes.frame()
            writer.add(frame)
        if writer is not None:
            paths.append(writer.close(blocks))
        if on_block is not None:
            on_block(len(paths), max(total, len(paths)))
    _join(paths, starts, out)
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    return RenderFigures(
        frames=index + 1 if paths else 0, redrawn=redrawn, blocks=len(paths), resumed_blocks=resumed
    )


def _block_count(stream: Any) -> int:
    frames = int(stream.frames or 0)
    return max(1, -(-frames // BLOCK_FRAMES)) if frames else 1


class _BlockWriter:
    """Encodes one block on its own thread (PyAV releases the GIL while x264 works), so the
    next frames are decoded and redrawn meanwhile: the two cores share the stage."""

    def __init__(self, path: Path, index: int, source: Any) -> None:
        import av

        self.path, self.index = path, index
        self._container = av.open(str(path), "w", format="mp4")
        rate = source.average_rate or source.guessed_rate or 25
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width = source.codec_context.width
        self._stream.height = source.codec_context.height
        self._stream.pix_fmt = "yuv420p"
        # the source's own clock: frames keep their timestamps (a variable rate stays variable)
        self._stream.time_base = source.time_base
        self._stream.codec_context.time_base = source.time_base
        self._stream.options = {"preset": _PRESET, "crf": _CRF}
        self._first_pts: int | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=8)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_all, name="lipsync-encode", daemon=True)
        self._thread.start()

    def add(self, frame: Any) -> None:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        if self._first_pts is None:
            self._first_pts = frame.pts or 0
        frame.pts = (frame.pts or 0) - self._first_pts  # each block starts at 0; the join adds
        frame.pict_type = 0  # let the encoder choose (a decoder's I/P types are not ours)
        if self._failure is not None:
            raise self._failure
        self._queue.put(frame)

    def _encode_all(self) -> None:
        try:
            while (frame := self._queue.get()) is not None:
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            for packet in self._stream.encode():
                self._container.mux(packet)
        except BaseException as err:  # handed to the caller's thread by add/close
            self._failure = err
            while self._queue.get() is not None:
                pass
        finally:
            self._container.close()

    def close(self, blocks: BlockStore) -> Path:
        self._queue.put(None)
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        blocks.put(self.index, self.path)
        return self.path


def _join(paths: list[Path], starts: list[float], out: Path) -> None:
    """The blocks end to end, each lasting until the next one's first frame (the concat
    demuxer would otherwise guess a block's last frame's length from the nominal rate)."""
    listing = out.parent / f".{out.name}.blocks.txt"
    entries = []
    for index, path in enumerate(paths):
        entries.append(f"file '{path.resolve()}'\n")
        if index + 1 < len(starts):
            entries.append(f"duration {starts[index + 1] - starts[index]:.6f}\n")
    listing.write_text("".join(entries), encoding="utf-8")
    try:
        run_ffmpeg(
            [
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                input_arg(listing),
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                input_arg(out),
            ],
            what="join the lip-synced video's blocks",
        )
    finally:
        listing.unlink(missing_ok=True)


def _redraw(planes: Planes, plan: FacePlan, offset: int, measure: FaceLandmarker) -> int:
    """Draw the plan's mouth into this frame; 1 if drawn. Measures the output's opening on
    the redrawn face in the canonical crop (the same pixels, before their warp back)."""
    import cv2

    pose = plan.poses[offset]
    if pose is None:
        return 0
    own, box = crop_face(planes, pose)
    if box is None:
        return 0
    face = FaceCrop(
        image=own, opening=float(plan.openings[offset]), width=float(plan.widths[offset])
    )
    if plan.mouths is None:
        plan.mouths = plan.prepare()
    new = plan.mouths.mouth(offset, face).astype(np.float32)
    if offset == plan.last - plan.first - 1:
        plan.mouths = None
    mask = plan.mask * plan.weight(offset)
    x0, y0, x1, y1 = plan.mask_box
    inside = (slice(y0, y1), slice(x0, x1))
    weights = mask[inside][..., None]
    difference = own[inside].astype(np.float32) - new[inside]
    new += (difference * weights).sum(axis=(0, 1)) / max(float(weights.sum()), 1e-6)
    # the retrieved face's colour, moved to this frame's
    corners = pose.to_frame(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], dtype=float))
    write = planes.even_box(*(corners.min(axis=0) - 1), *(corners.max(axis=0) + 1))
    if write is None:
        return 0
    size = (write[2] - write[0], write[3] - write[1])
    inverse = pose.inverse
    inverse[:, 2] -= (write[0], write[1])
    pasted = cv2.warpAffine(
        new, inverse, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    alpha = cv2.warpAffine(mask, inverse, size, flags=cv2.INTER_LINEAR)[..., None]
    region = planes.rgb(write).astype(np.float32)
    blended = np.clip(region * (1 - alpha) + pasted * alpha + 0.5, 0, 255).astype(np.uint8)
    planes.put_rgb(write, blended, where=alpha[..., 0] > 1 / 255)
    if plan.measured is not None:
        canonical = own.astype(np.float32)
        canonical[inside] += (new[inside] - canonical[inside]) * weights
        found = measure.faces(np.clip(canonical + 0.5, 0, 255).astype(np.uint8))
        if found:
            plan.measured[offset] = mouth_opening(found[0].points)
    return 1
