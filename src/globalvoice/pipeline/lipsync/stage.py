"""The lipsync stage: the speaking face of each dubbed line redrawn to say the new words.

1. Track every face shot by shot (track.track_faces), collecting the speaker's own face images
   from the frames of dubbed lines as it goes (bank.BankCollector).
2. For each line, the face that speaks it: the one whose mouth moves with the line's source
   dialogue (speaker_face.choose_face); or why none.
3. Per line and face: the mouth targets from the dubbed speech's phonemes (targets), the mouth
   engine's images for them, the smoothed pose and one feathered mask.
4. Decode again, redraw, re-encode in resumable blocks (render.render_video), measuring the
   output's mouth for the sync figure beside the untouched frames'.
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.render import TimedPhoneme
from globalvoice.engines.face.protocol import FaceLandmarker
from globalvoice.engines.lipsync.protocol import LineMouths, MouthCue, MouthEngine
from globalvoice.pipeline.lipsync.audio import file_envelope, read_span
from globalvoice.pipeline.lipsync.bank import BankCollector
from globalvoice.pipeline.lipsync.geometry import (
    canonical_pose,
    face_mask,
    mouth_width,
    smooth_poses,
)
from globalvoice.pipeline.lipsync.render import BlockStore, FacePlan, render_video
from globalvoice.pipeline.lipsync.report import LineSync, LipsyncReport, SyncFigure
from globalvoice.pipeline.lipsync.speaker_face import FaceChoice, FacePolicy, choose_face
from globalvoice.pipeline.lipsync.sync import sync_measure
from globalvoice.pipeline.lipsync.targets import (
    LineSpeech,
    energy_targets,
    mouth_range,
    viseme_targets,
)
from globalvoice.pipeline.lipsync.track import VideoFaces, track_faces

__all__ = ["LipsyncJob", "LipsyncLine", "LipsyncTools", "lipsync_video"]

_LEAD_MS = 80  # the mouth starts moving a little before the sound (and ends after)


@dataclass(frozen=True, slots=True, kw_only=True)
class LipsyncLine:
    """A dubbed line: its source span (whose face speaks it) and the dub's span and phonemes
    (timeline times). The frames changed cover both spans."""

    line_id: str
    source_ms: tuple[int, int]
    dub_ms: tuple[int, int]
    phonemes: tuple[TimedPhoneme, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LipsyncJob:
    video: Path
    lines: tuple[LipsyncLine, ...]
    dub_speech: Path  # the dubbed speech alone (any audio file)
    source_dialogue: Path  # the source's dialogue (the separated stem, or the source itself)
    out: Path  # the redrawn video, video only


@dataclass(frozen=True, slots=True, kw_only=True)
class LipsyncTools:
    engine: MouthEngine
    landmarker: FaceLandmarker  # tracks the source
    measure: FaceLandmarker  # measures the output (its own tracking state)
    blocks: BlockStore
    policy: FacePolicy = field(default_factory=FacePolicy)
    progress: ProgressSink = NO_PROGRESS
    language: str | None = None


def lipsync_video(job: LipsyncJob, tools: LipsyncTools) -> LipsyncReport:
    """Redraw the speaking faces of `job.lines` into `job.out`; the report says, line by line,
    what was done. When no line has a speaking face, nothing is written (`report.redrawn`
    is False): the source's video is to be used as it is."""
    with tempfile.TemporaryDirectory(prefix="gv-lipsync-") as scratch:
        faces, collector = _track(job, tools, Path(scratch))
        times = faces.frame_times()
        source_env = file_envelope(job.source_dialogue, times, 1.0 / faces.fps)
        planner = _Planner(
            job=job,
            tools=tools,
            faces=faces,
            collector=collector,
            dub_env=file_envelope(job.dub_speech, times, 1.0 / faces.fps),
        )
        for line in job.lines:
            choice = choose_face(faces, source_env, _source_frames(line, times), tools.policy)
            planner.plan(line, choice)
        entries, plans = planner.entries, planner.plans
        if not plans:
            return LipsyncReport.of(tools.engine.info, faces, list(entries.values()), redrawn=False)
        tools.measure.restart()  # what it follows is this video's faces alone
        figures = render_video(
            job.video,
            plans,
            job.out,
            blocks=tools.blocks,
            measure=tools.measure,
            on_block=lambda done, total: tools.progress(
                StageProgress(stage="lipsync", done=done, total=total, language=tools.language)
            ),
        )
        for plan in plans:
            env = planner.dub_env[plan.first : plan.last]
            measured = plan.measured if plan.measured is not None else np.full(len(env), np.nan)
            entries[plan.line_id] = entries[plan.line_id].with_output(
                SyncFigure.of(sync_measure(measured, env)), seen=float(np.mean(~np.isnan(measured)))
            )
        return LipsyncReport.of(
            tools.engine.info, faces, list(entries.values()), redrawn=True, figures=figures
        )


def _track(job: LipsyncJob, tools: LipsyncTools, scratch: Path) -> tuple[VideoFaces, BankCollector]:
    import av

    with av.open(str(job.video)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        expected = int(stream.frames or 0) or int(
            float(container.duration or 0) / 1_000_000 * rate + 1
        )
    wanted = np.zeros(max(1, expected + int(rate)), dtype=bool)
    for line in job.lines:
        start = min(line.source_ms[0], line.dub_ms[0]) / 1000
        end = max(line.source_ms[1], line.dub_ms[1]) / 1000
        wanted[int(start * rate) : int(end * rate) + 1] = True
    collector = BankCollector(wanted, min_eye_px=tools.policy.min_eye_px, spill_dir=scratch)
    faces = track_faces(job.video, tools.landmarker, observer=collector)
    collector.finish()
    return faces, collector


def _frames_of(line: LipsyncLine, times: npt.NDArray[np.float64]) -> tuple[int, int]:
    start = (min(line.source_ms[0], line.dub_ms[0]) - _LEAD_MS) / 1000
    end = (max(line.source_ms[1], line.dub_ms[1]) + _LEAD_MS) / 1000
    return int(np.searchsorted(times, start)), int(np.searchsorted(times, end))


def _source_frames(line: LipsyncLine, times: npt.NDArray[np.float64]) -> tuple[int, int]:
    first = int(np.searchsorted(times, line.source_ms[0] / 1000))
    return first, max(first + 1, int(np.searchsorted(times, line.source_ms[1] / 1000)))


@dataclass(slots=True, kw_only=True)
class _Planner:
    """Plans each line on its speaking face, in line order."""

    job: LipsyncJob
    tools: LipsyncTools
    faces: VideoFaces
    collector: BankCollector
    dub_env: npt.NDArray[np.float64]
    plans: list[FacePlan] = field(default_factory=list)
    entries: dict[str, LineSync] = field(default_factory=dict)
    taken: dict[int, int] = field(default_factory=dict)  # track -> its last planned frame

    def plan(self, line: LipsyncLine, choice: FaceChoice) -> None:
        entry = LineSync(line_id=line.line_id, face=choice.reason, source_sync=choice.sync)
        self.entries[line.line_id] = entry
        if choice.track_id is None:
            return
        faces = self.faces
        track = faces.tracks[choice.track_id]
        times = faces.frame_times()
        frames = _frames_of(line, times)
        # never past the face's shot, never over frames an earlier line already redrew on it
        first = max(frames[0], track.first_frame, self.taken.get(track.track_id, -1) + 1)
        last = min(frames[1], track.last_frame + 1)
        side = self.collector.side(track.track_id)
        if last - first < 2 or side is None or self.collector.count(track.track_id) < 2:
            self.entries[line.line_id] = entry.skipped("face not seen long enough to redraw")
            return
        self.taken[track.track_id] = last - 1
        points = [track.points[i - track.first_frame] for i in range(first, last)]
        poses = smooth_poses([canonical_pose(p, side) if p is not None else None for p in points])
        seen = [(pose, p) for pose, p in zip(poses, points, strict=True) if pose and p is not None]
        canonical = np.stack([pose.to_canonical(p) for pose, p in seen])
        face = mouth_range(track)
        start_ms = float(times[first] * 1000)
        if line.phonemes:
            speech = LineSpeech(
                phonemes=line.phonemes, start_ms=start_ms, envelope=self.dub_env[first:last]
            )
            targets = viseme_targets(speech, fps=faces.fps, face=face)
        else:
            targets = energy_targets(self.dub_env[first:last], face=face)
        end_s = float(times[last - 1]) + 1 / faces.fps

        def prepare(track_id: int = track.track_id) -> LineMouths:
            speech = read_span(self.job.dub_speech, start_ms / 1000, end_s)
            bank = self.collector.crops(track_id)
            return self.tools.engine.line(
                MouthCue(fps=faces.fps, targets=targets, speech=speech, bank=bank)
            )

        openings = track.mouth_series(faces.frames)[first:last].copy()  # not a view of it all
        self.plans.append(
            FacePlan(
                line_id=line.line_id,
                first=first,
                last=last,
                poses=poses,
                openings=openings,
                widths=np.array([mouth_width(p) if p is not None else np.nan for p in points]),
                mask=face_mask(canonical, side),
                prepare=prepare,
            )
        )
        self.entries[line.line_id] = entry.planned(
            track=track.track_id,
            frames=last - first,
            driven_by="phonemes" if line.phonemes else "loudness",
            untouched=SyncFigure.of(sync_measure(openings, self.dub_env[first:last])),
        )
