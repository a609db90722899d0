"""Benchmark the offline dub end to end on N minutes of real speech, one fresh process per run.

The input is LJSpeech LJ001-0001..0010 (public domain, ~1 min) with 0.4 s of silence between
clips, repeated to N minutes, muxed as AAC under a still-colour H.264 picture. Each run loads the
models from the normal cache (so assembling weights is not measured) but uses a disabled artifact
cache, so every stage is computed.

    .venv/bin/python benchmarks/bench_dub.py --minutes 1 --minutes 10 --target es

One JSON object per run goes to stdout and is appended to benchmarks/results/<date>-<sha>.jsonl.
Besides time and memory it reports the fitting chain's outcome (share of lines at tempo <= 1.15x
and within the cap, flagged lines, tempo percentiles, lines by final step and each line's steps).

To compare fitting-chain settings quickly, `--cache-dir DIR` keeps the artifact cache between
runs (analysis and translation are then reused; its times no longer measure a full dub), and the
chain is set through the environment, e.g. GV_PIPELINE__FIT__BORROW_SILENCE_MS=0 or
GV_PIPELINE__FIT__STEPS='["tts_rate","stretch","flag"]':

    .venv/bin/python benchmarks/bench_dub.py --minutes 1 --target pt --cache-dir /tmp/gv-fit

`--input FILE` dubs that file instead, e.g. the tests' `lj_minute` (the ten clips, 16 kHz, 0.4 s
apart: tests/conftest.py `concat_audio` + `video_from_audio`).
"""

import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LJSPEECH = REPO.parent / "shared" / "media" / "speech" / "ljspeech"
CLIPS = [f"LJ001-{n:04d}.wav" for n in range(1, 11)]
GAP_S = 0.4
SAMPLE_PERIOD_S = 0.05

app = typer.Typer(add_completion=False)


# ---------------------------------------------------------------- input


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def build_input(minutes: float, work: Path) -> Path:
    """Write work/ljspeech_<N>min.mp4: the LJSpeech clips looped to N minutes, still picture."""
    import numpy as np
    import soundfile as sf

    seconds = minutes * 60
    first = sf.info(str(LJSPEECH / CLIPS[0]))
    gap = work / "gap.wav"
    sf.write(str(gap), np.zeros(round(GAP_S * first.samplerate), dtype=np.int16),
             first.samplerate, subtype="PCM_16")  # fmt: skip
    entries: list[str] = []
    total = 0.0
    while total < seconds:
        for name in CLIPS:
            clip = LJSPEECH / name
            entries += [f"file '{clip}'", f"file '{gap}'"]
            total += sf.info(str(clip)).duration + GAP_S
    playlist = work / "concat.txt"
    playlist.write_text("\n".join(entries) + "\n", encoding="utf-8")
    out = work / f"ljspeech_{minutes:g}min.mp4"
    subprocess.run(
        [
            _ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "concat", "-safe", "0", "-i", str(playlist),
            "-f", "lavfi", "-i", "color=c=0x203040:s=640x360:r=25",
            "-map", "1:v", "-map", "0:a", "-t", f"{seconds:.3f}",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
            "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "1",
            "-movflags", "+faststart", str(out),
        ],
        check=True,
    )  # fmt: skip
    return out


# ---------------------------------------------------------------- child (one dub, fresh process)


class RssSampler:
    """Peak VmRSS from /proc/self/status, sampled every 50 ms on a daemon thread; also every
    sample taken while each pipeline stage ran (`stage`, set by `watch_stages`), for the
    stage's peak and its median (a peak is one coincidence; the median is the stage's level)."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self.stage = "load"
        self.stage_samples_kib: dict[str, list[int]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss_kib() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, stage = self._rss_kib(), self.stage
            self.peak_kib = max(self.peak_kib, rss)
            self.stage_samples_kib[stage].append(rss)
            self._stop.wait(SAMPLE_PERIOD_S)

    def watch_stages(self) -> None:
        """Label samples with the stage StageClock is timing (between stages: the last one)."""
        from contextlib import contextmanager

        from globalvoice.dubbing.timing import StageClock

        timed = StageClock.stage
        sampler = self

        @contextmanager
        def stage(clock: StageClock, name: str, language: str | None = None) -> Any:
            sampler.stage = name
            with timed(clock, name, language):
                yield

        StageClock.stage = stage  # type: ignore[method-assign]

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, self._rss_kib())


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _fit_stats(manifest: dict[str, Any], target: str) -> dict[str, Any]:
    takes = [s["targets"][target] | {"start_ms": s["start_ms"]} for s in manifest["segments"]]
    dubbed = [t for t in takes if t["tempo"] is not None]
    offsets = [abs(t["dubbed_start_ms"] - t["start_ms"]) for t in dubbed]

    def share(cap: float) -> float | None:
        return round(sum(t["tempo"] <= cap for t in dubbed) / len(dubbed), 4) if dubbed else None

    summary = manifest["summary"][target]
    chain = summary.get("fit") or {}
    return {
        "lines": len(takes),
        "dubbed_lines": len(dubbed),
        "fits": summary["fits"],
        "flagged": len(summary["flagged"]),
        "share_tempo_le_1_30": share(1.3),
        "share_tempo_le_1_15": share(1.15),
        "max_tempo": summary["max_tempo"],
        "tempo_percentiles": chain.get("tempo_percentiles"),
        "final_steps": chain.get("final_steps"),
        "steps_used": chain.get("steps_used"),
        "borrowed_ms_total": chain.get("borrowed_ms_total"),
        "fit_settings": manifest["settings"].get("fit"),
        "per_line": [
            {
                "id": s["id"],
                "source_ms": s["end_ms"] - s["start_ms"],
                "tempo": s["targets"][target]["tempo"],
                "slot_ms": s["targets"][target]["slot_ms"],
                "natural_ms": s["targets"][target]["natural_ms"],
                "steps": (s["targets"][target].get("fit") or {}).get("steps"),
                "candidate": s["targets"][target]["candidate"],
                "candidates": s["targets"][target]["candidates"],
            }
            for s in manifest["segments"]
        ],
        "max_start_offset_ms": max(offsets, default=None),
        "mean_start_offset_ms": round(sum(offsets) / len(offsets), 1) if offsets else None,
        "route": summary["route"],
        "loudness_lufs": summary["loudness_lufs"],
        "true_peak_dbtp": summary["true_peak_dbtp"],
    }


def _stages(manifest: dict[str, Any]) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: {"wall_s": 0.0, "cpu_s": 0.0})
    for stage in manifest["stages"]:
        totals[stage["stage"]]["wall_s"] += stage["wall_s"]
        totals[stage["stage"]]["cpu_s"] += stage["cpu_s"]
    return {k: {n: round(v, 3) for n, v in t.items()} for k, t in totals.items()}


def run_child(
    input_path: Path, target: str, result_path: Path, cache_dir: Path | None = None
) -> None:
    from globalvoice.cli.process import limit_malloc_arenas

    limit_malloc_arenas()  # as the CLI does at start-up
    with RssSampler() as sampler:
        sampler.watch_stages()
        start_wall, start_cpu = time.perf_counter(), _cpu_s()
        from globalvoice.config.settings import Settings
        from globalvoice.dubbing.engines import build_engines
        from globalvoice.dubbing.local import LocalDub, run_local
        from globalvoice.dubbing.steps import StepRun
        from globalvoice.storage.cache import ArtifactCache

        settings = Settings()  # default cache_dir: the assembled model files load from there
        engines = build_engines(settings)
        load_wall, load_cpu = time.perf_counter() - start_wall, _cpu_s() - start_cpu
        rss_after_load_mib = RssSampler._rss_kib() / 1024
        with tempfile.TemporaryDirectory(prefix="gv-bench-run-") as tmp:
            # nothing cached, nothing reused; or, with `cache_dir`, every artifact kept there
            cache = ArtifactCache.local(cache_dir or Path(tmp), enabled=cache_dir is not None)
            request = LocalDub(input_path=input_path, targets=(target,), out_dir=Path(tmp) / "out")
            dub_wall, dub_cpu = time.perf_counter(), _cpu_s()
            run = StepRun(settings=settings.pipeline, cache=cache)
            result = run_local(request, engines, run)
            dub_wall, dub_cpu = time.perf_counter() - dub_wall, _cpu_s() - dub_cpu
    manifest = json.loads(result.manifest.to_json())
    media_s = manifest["input"]["duration_ms"] / 1000
    fingerprints = {role: getattr(engines, role).info.fingerprint
                    for role in ("vad", "stt", "mt", "tts")}  # fmt: skip
    record = {
        "media_s": media_s,
        "source_language": manifest["source_language"],
        "model_load_wall_s": round(load_wall, 3),
        "model_load_cpu_s": round(load_cpu, 3),
        "dub_wall_s": round(dub_wall, 3),
        "dub_cpu_s": round(dub_cpu, 3),
        "total_wall_s": round(load_wall + dub_wall, 3),
        "rtf": round(dub_wall / media_s, 4),
        "rtf_with_load": round((load_wall + dub_wall) / media_s, 4),
        "stages": _stages(manifest),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_sampled_mib": round(sampler.peak_kib / 1024, 1),
        "rss_after_load_mib": round(rss_after_load_mib, 1),
        "peak_rss_by_stage_mib": {
            name: round(max(kib) / 1024, 1) for name, kib in sampler.stage_samples_kib.items()
        },
        "median_rss_by_stage_mib": {
            name: round(statistics.median(kib) / 1024, 1)
            for name, kib in sampler.stage_samples_kib.items()
        },
        **_fit_stats(manifest, target),
        "engines": manifest["engines"],
        "engine_fingerprints": fingerprints,
    }
    result_path.write_text(json.dumps(record), encoding="utf-8")


# ---------------------------------------------------------------- parent


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def _machine() -> dict[str, Any]:
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


@app.command()
def main(
    minutes: Annotated[
        list[float] | None, typer.Option(help="media length (default 1); repeat for more runs")
    ] = None,
    target: Annotated[str, typer.Option(help="target language")] = "es",
    repeat: Annotated[
        int, typer.Option(min=1, help="runs per length; with 2 or more, a median line follows")
    ] = 1,
    cache_dir: Annotated[
        Path | None, typer.Option(help="keep and reuse artifacts here (fit comparisons)")
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", help="dub this file instead of building the LJSpeech loop"),
    ] = None,
    child_input: Annotated[Path | None, typer.Option(hidden=True)] = None,
    child_result: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Dub N minutes of LJSpeech under a still picture; print one JSON line per run."""
    if child_input is not None and child_result is not None:
        run_child(child_input, target, child_result, cache_dir)
        return
    sha = _git("rev-parse", "--short", "HEAD") or "nogit"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    results = HERE / "results"
    results.mkdir(parents=True, exist_ok=True)
    log = results / f"{today}-{sha}.jsonl"
    machine = _machine()
    for length in minutes or [1.0]:
        runs = [
            _run_once(length, target, sha, dirty, machine, log, cache_dir, input_path)
            for _ in range(repeat)
        ]
        if repeat > 1:
            print(json.dumps(_medians(runs)), flush=True)


def _run_once(
    length: float,
    target: str,
    sha: str,
    dirty: bool,
    machine: dict[str, Any],
    log: Path,
    cache_dir: Path | None = None,
    given: Path | None = None,
) -> dict[str, Any]:
    """One dub of `length` minutes in a fresh process; its record is printed and logged."""
    load_1m = os.getloadavg()[0]  # other jobs on the machine inflate wall time, not CPU
    with tempfile.TemporaryDirectory(prefix="gv-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        input_path = given.resolve() if given is not None else build_input(length, work)
        build_s = time.perf_counter() - started
        result_path = work / "result.json"
        cached = ["--cache-dir", str(cache_dir.resolve())] if cache_dir is not None else []
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--target", target, *cached,
             "--child-input", str(input_path), "--child-result", str(result_path)],
            check=True, stdout=sys.stderr,
        )  # fmt: skip
        child = json.loads(result_path.read_text(encoding="utf-8"))
    record = {
        "bench": "dub",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_sha": sha,
        "git_dirty": dirty,
        "machine": machine,
        "minutes": length,
        "target": target,
        "artifact_cache": str(cache_dir) if cache_dir is not None else None,
        "input": str(given) if given is not None else f"ljspeech loop {length:g} min",
        "input_build_s": round(build_s, 3),
        "load_avg_1m_before": round(load_1m, 2),
        **child,
    }
    line = json.dumps(record, ensure_ascii=False)
    print(line, flush=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return record


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each headline figure over repeated runs of one length."""

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 4)

    stages = sorted({name for run in runs for name in run["stages"]})
    return {
        "bench": "dub-median",
        "runs": len(runs),
        "minutes": runs[0]["minutes"],
        "target": runs[0]["target"],
        **{
            key: median([run[key] for run in runs])
            for key in ("rtf", "dub_wall_s", "dub_cpu_s", "peak_rss_mib")
        },
        "stages": {
            name: {
                unit: median([run["stages"].get(name, {}).get(unit, 0.0) for run in runs])
                for unit in ("wall_s", "cpu_s")
            }
            for name in stages
        },
        "share_tempo_le_1_15": median([run["share_tempo_le_1_15"] or 0.0 for run in runs]),
        "share_tempo_le_1_30": median([run["share_tempo_le_1_30"] or 0.0 for run in runs]),
        "load_avg_1m_before": [run["load_avg_1m_before"] for run in runs],
    }


if __name__ == "__main__":
    app()
