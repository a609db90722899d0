"""Whole dubs of the GRID talking heads with lip-sync, scored (bench_lipsync.py --figures).

Two inputs per GRID clip, each dubbed to Spanish by the CLI in its own process:

- "voice-over": the clip looped under a longer English speech (LibriSpeech 1688-142285-0003/4/5/8
  in turn) with `--lipsync on` (the face does not say those words, so `auto` leaves it);
- "own": the clip's own sentence three times over (a real talking head), `--lipsync auto`.

Per dub: each redrawn line's sync (the output's mouth against the dubbed speech at lag 0 +-1
frame, its best lag) beside the untouched frames', and over the whole video the PSNR outside the
lower face and the mouth flicker against the source (pipeline.lipsync.quality). A strip of stills
(source above, output below) of the first clip's voice-over dub is written next to the results.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
GRID = MEDIA / "video" / "grid"
CLIPS = ("bbaf2n", "brbk7n", "lbax4n", "lrwp9a", "pwij3p", "sbwe5n")
LIBRI = [MEDIA / "speech" / "librispeech" / f"1688-142285-{n:04d}.flac" for n in (3, 4, 5, 8)]
RESULTS = REPO / "benchmarks" / "results"

__all__ = ["run_figures"]


def _ffmpeg(*args: str) -> None:
    from globalvoice.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def _duration_s(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def voice_over(clip: Path, speech: Path, out: Path) -> Path:
    _ffmpeg(
        "-stream_loop", "-1", "-i", str(clip), "-i", str(speech), "-map", "0:v", "-map", "1:a",
        "-t", f"{_duration_s(speech):.3f}", "-vf", "fps=25", "-c:v", "libx264", "-preset",
        "veryfast", "-crf", "18", "-c:a", "aac", str(out),
    )  # fmt: skip
    return out


def own_sentence(clip: Path, out: Path) -> Path:
    _ffmpeg(
        "-i", str(clip), "-i", str(clip), "-i", str(clip), "-filter_complex",
        "[0:v][0:a][1:v][1:a][2:v][2:a]concat=n=3:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac", str(out),
    )  # fmt: skip
    return out


def dub(video: Path, out_dir: Path, lipsync: str) -> dict[str, Any]:
    command = [
        sys.executable, "-c", "from globalvoice.cli.main import run; run()", "dub", str(video),
        "--to", "es", "--out", str(out_dir), "--lipsync", lipsync, "--no-cache",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, env={**os.environ})
    manifest: dict[str, Any] = json.loads((out_dir / "manifest.json").read_text())
    return manifest


def score(video: Path, out_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    from globalvoice.engines.face.mediapipe_mesh import MediaPipeFaceMesh
    from globalvoice.pipeline.lipsync.quality import compare_videos

    entry = manifest["lipsync"]["es"]
    lines = (entry.get("report") or {}).get("lines", [])
    redrawn = [ln for ln in lines if ln.get("output")]
    output = next(out_dir.glob("*.es.mp4"))
    quality = compare_videos(video, output, MediaPipeFaceMesh(max_faces=1), (0, 1_000_000))
    return {
        "redrawn": entry["redrawn"],
        "reason": entry["reason"],
        "lines": len(lines),
        "lines_redrawn": len(redrawn),
        "driven_by": sorted({ln.get("driven_by") for ln in redrawn if ln.get("driven_by")}),
        "output_sync": [ln["output"]["at_zero"] for ln in redrawn],
        "untouched_sync": [ln["untouched"]["at_zero"] for ln in redrawn],
        "best_lags": [ln["output"]["best_lag"] for ln in redrawn],
        "psnr_outside_db": round(quality.psnr_outside_db, 2),
        "flicker_ratio": round(quality.flicker_ratio, 3),
        "output_path": str(output),
    }


def strip(source: Path, output: Path, dest: Path, frames: list[int]) -> None:
    """Stills side by side: the source above, the output below (the face's lower half)."""
    import av
    import cv2
    import numpy as np

    def read(path: Path) -> list[Any]:
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    rows = []
    for images in (read(source), read(output)):
        rows.append(np.hstack([images[i][60:288, 90:270] for i in frames if i < len(images)]))
    cv2.imwrite(str(dest), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def run_figures() -> Iterator[dict[str, Any]]:
    everything: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        for index, name in enumerate(CLIPS):
            clip = GRID / f"{name}.mpg"
            inputs = {
                "voice-over": (voice_over(clip, LIBRI[index % 4], work / f"{name}-vo.mp4"), "on"),
                "own": (own_sentence(clip, work / f"{name}-own.mp4"), "auto"),
            }
            for kind, (video, mode) in inputs.items():
                out_dir = work / f"{name}-{kind}"
                manifest = dub(video, out_dir, mode)
                record = {"clip": name, "input": kind, "lipsync": mode}
                record.update(score(video, out_dir, manifest))
                if index == 0 and kind == "voice-over":
                    RESULTS.mkdir(parents=True, exist_ok=True)
                    dest = RESULTS / f"lipsync-strip-{name}.png"
                    strip(video, Path(record["output_path"]), dest, [12, 24, 36, 48, 60, 72, 84])
                    record["strip"] = str(dest)
                everything.append(record)
                yield record
    yield _summary(everything)


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": True}
    for kind in ("voice-over", "own"):
        chosen = [r for r in records if r["input"] == kind]
        synced = [s for r in chosen for s in r["output_sync"]]
        untouched = [s for r in chosen for s in r["untouched_sync"]]
        lags = [lag for r in chosen for lag in r["best_lags"]]
        gains = [
            o - u
            for r in chosen
            for o, u in zip(r["output_sync"], r["untouched_sync"], strict=True)
        ]
        out[kind] = {
            "dubs": len(chosen),
            "dubs_redrawn": sum(r["redrawn"] for r in chosen),
            "lines_redrawn": len(synced),
            "output_sync_median": round(statistics.median(synced), 3) if synced else None,
            "output_sync_min": round(min(synced), 3) if synced else None,
            "untouched_sync_median": round(statistics.median(untouched), 3) if untouched else None,
            "gain_median": round(statistics.median(gains), 3) if gains else None,
            "gain_min": round(min(gains), 3) if gains else None,
            "lag_within_1": round(sum(abs(lag) <= 1 for lag in lags) / len(lags), 3)
            if lags
            else None,
            "psnr_outside_min_db": min((r["psnr_outside_db"] for r in chosen), default=None),
            "flicker_ratio_max": max((r["flicker_ratio"] for r in chosen), default=None),
        }
    return out
