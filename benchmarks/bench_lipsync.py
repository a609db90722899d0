"""Benchmark the lip-sync stage (issue 18): speed by resolution, memory by length, and the
quality figures of whole dubs.

Speed (`--speed`, the default). A GRID talking head (bbaf2n) scaled to 360p, 720p and 1080p
(16:9, padded), looped to `--seconds` (default 20), at 25 fps; one dubbed line every 3 s
(2.8 s long), so ~90 % of the frames are redrawn; the dubbed speech is LJ Speech (LJ001-0001..)
with no phonemes (the loudness drives the mouth; phoneme targets cost the same). The stage
(`lipsync_video`, patch engine, both passes, the output's sync measured) runs in a fresh
process per resolution after one unrecorded warm-up: wall and CPU seconds, frames per second
and the real-time factor (wall / video seconds; goal at 720p: <= 1.0).

Memory (`--memory`): the same at 360p for 1 and 10 minutes (`--memory-minutes`), each in a
fresh process: peak RSS (ru_maxrss).

Figures (`--figures`): each GRID clip looped under a longer English speech (LibriSpeech
1688-142285-0003/4/5/8 in turn), dubbed to Spanish by the CLI with `--lipsync on` (the face
does not speak that English, so "auto" would leave it), and each GRID clip's own sentence
three times over (a real talking head, `--lipsync auto`): per line the manifest's sync of the
output and of the untouched frames against the dubbed speech, and for the whole video the PSNR
outside the lower face and the mouth flicker against the source (pipeline.lipsync.quality).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_lipsync.py [--speed] [--memory] [--figures]

Every record is one JSON line, also appended to benchmarks/results/<date>-<sha>-lipsync.jsonl.
"""

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_diarize import _git, _machine  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
GRID = MEDIA / "video" / "grid"
CLIPS = ("bbaf2n", "brbk7n", "lbax4n", "lrwp9a", "pwij3p", "sbwe5n")
LJ = [MEDIA / "speech" / "ljspeech" / f"LJ001-{n:04d}.wav" for n in range(1, 11)]
LIBRI = [MEDIA / "speech" / "librispeech" / f"1688-142285-{n:04d}.flac" for n in (3, 4, 5, 8)]
HEIGHTS = {"360p": 360, "720p": 720, "1080p": 1080}

app = typer.Typer(add_completion=False)


def _log(record: dict[str, Any]) -> None:
    sha = _git("rev-parse", "--short", "HEAD") or "nogit"
    full = {
        "git_sha": sha,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": _machine(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **record,
    }
    line = json.dumps(full, ensure_ascii=False)
    print(line, flush=True)
    results = HERE / "results"
    results.mkdir(parents=True, exist_ok=True)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    with (results / f"{today}-{sha}-lipsync.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _ffmpeg(*args: str) -> None:
    from globalvoice.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def build_video(height: int, seconds: float, out: Path) -> Path:
    width = round(height * 16 / 9 / 2) * 2
    _ffmpeg(
        "-stream_loop", "-1", "-i", str(GRID / "bbaf2n.mpg"), "-t", str(seconds),
        "-vf", f"scale=-2:{height},pad={width}:{height}:(ow-iw)/2:0,fps=25",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac", str(out),
    )  # fmt: skip
    return out


def build_dub(seconds: float, out: Path) -> Path:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in LJ), encoding="utf-8")
    _ffmpeg(
        "-stream_loop", "-1", "-f", "concat", "-safe", "0", "-i", str(listing),
        "-t", str(seconds), "-ac", "1", "-ar", "24000", "-c:a", "pcm_f32le", str(out),
    )  # fmt: skip
    return out


class _NoBlocks:
    def get(self, index: int, path: Path) -> bool:  # noqa: ARG002 - the protocol's
        return False

    def put(self, index: int, path: Path) -> None:
        pass


def run_stage(video: Path, dub: Path, seconds: float) -> dict[str, Any]:
    """The stage on `video`, one line every 3 s; figures of this process."""
    from globalvoice.config.settings import PatchLipsyncConfig
    from globalvoice.engines.face.mediapipe_mesh import MediaPipeFaceMesh
    from globalvoice.engines.lipsync.patch import PatchMouthEngine
    from globalvoice.pipeline.lipsync.speaker_face import FacePolicy
    from globalvoice.pipeline.lipsync.stage import (
        LipsyncJob,
        LipsyncLine,
        LipsyncTools,
        lipsync_video,
    )

    lines = tuple(
        LipsyncLine(line_id=f"l{i}", source_ms=(start, start + 2800), dub_ms=(start, start + 2800))
        for i, start in enumerate(range(100, int(seconds * 1000) - 2900, 3000))
    )
    tools = LipsyncTools(
        engine=PatchMouthEngine(PatchLipsyncConfig()),
        landmarker=MediaPipeFaceMesh(),
        measure=MediaPipeFaceMesh(max_faces=1),
        blocks=_NoBlocks(),
        policy=FacePolicy(require_sync=False),
    )
    with tempfile.TemporaryDirectory() as work:
        job = LipsyncJob(
            video=video,
            lines=lines,
            dub_speech=dub,
            source_dialogue=video,
            out=Path(work) / "out.mp4",
        )
        wall, cpu = time.perf_counter(), _cpu_s()
        report = lipsync_video(job, tools)
        wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    synced = [ln.output.at_zero for ln in report.lines if ln.output is not None]
    return {
        "frames": report.frames,
        "redrawn_frames": report.redrawn_frames,
        "video_s": round(seconds, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "fps": round(report.frames / wall, 1),
        "realtime_factor": round(wall / seconds, 3),
        "output_sync_median": round(statistics.median(synced), 3) if synced else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _in_child(mode: str, label: str, height: int, seconds: float) -> None:
    """One measured run in a fresh process (its own peak RSS), after a warm-up in it."""
    command = [
        sys.executable, str(Path(__file__)), "--child", mode, "--child-label", label,
        "--child-height", str(height), "--seconds", str(seconds),
    ]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "GLOG_minloglevel": "2"})


@app.command()
def main(
    speed: Annotated[bool, typer.Option("--speed", help="fps by resolution")] = False,
    memory: Annotated[bool, typer.Option("--memory", help="peak RSS by length")] = False,
    figures: Annotated[bool, typer.Option("--figures", help="whole dubs of GRID heads")] = False,
    seconds: Annotated[float, typer.Option(help="video length for --speed")] = 20.0,
    memory_minutes: Annotated[list[float] | None, typer.Option(help="--memory lengths")] = None,
    child: Annotated[str, typer.Option(hidden=True)] = "",
    child_label: Annotated[str, typer.Option(hidden=True)] = "",
    child_height: Annotated[int, typer.Option(hidden=True)] = 0,
) -> None:
    if child:
        with tempfile.TemporaryDirectory() as work:
            video = build_video(child_height, seconds, Path(work) / "in.mp4")
            dub = build_dub(seconds, Path(work) / "dub.wav")
            if child == "speed":  # a short unrecorded warm-up: models loaded, caches warm
                warm = build_video(child_height, 3.5, Path(work) / "warm.mp4")
                run_stage(warm, dub, 3.5)
            _log({"mode": child, "label": child_label, **run_stage(video, dub, seconds)})
        return
    if not (speed or memory or figures):
        speed = True
    if speed:
        for label, height in HEIGHTS.items():
            _in_child("speed", label, height, seconds)
    if memory:
        for minutes in memory_minutes or [1.0, 10.0]:
            _in_child("memory", f"{minutes:g} min", 360, minutes * 60)
    if figures:
        from benchmarks.lipsync_figures import run_figures

        for record in run_figures():
            _log({"mode": "figures", **record})


if __name__ == "__main__":
    app()
