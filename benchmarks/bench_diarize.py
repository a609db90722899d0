"""Benchmark diarization: wall and CPU seconds per minute of audio, speaker count and DER.

Inputs are built in memory from shared/media/speech/librispeech (CC BY 4.0): whole utterances of
2 to 5 readers in rotation, 0.4 s apart, so who speaks when is known; plus the ten LJSpeech clips
(one reader). The reference speech of each utterance is the Silero VAD run on it alone; DER uses
a 0.25 s collar (tests.der). VAD time is not counted: diarization starts from the
VAD's spans, as in the pipeline. Each case runs once to warm up, then `--repeat` times; the
minimum wall and CPU time is reported (CPU = this process, all threads).

    .venv/bin/python benchmarks/bench_diarize.py

One JSON object per case goes to stdout and is appended to benchmarks/results/<date>-<sha>.jsonl.
"""

import datetime as dt
import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SPEECH = REPO.parent / "shared" / "media" / "speech"
GAP_S = 0.4
CASES = {
    "librispeech-2": ("2033", "2414"),
    "librispeech-3": ("1688", "1998", "3331"),
    "librispeech-4": ("1688", "2033", "2414", "3331"),
    "librispeech-5": ("1688", "1998", "2033", "2414", "3331"),
}

app = typer.Typer(add_completion=False)


class TimedEmbedder:
    """The real embedder, with the time spent inside it counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.wall_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def info(self) -> Any:
        return self.inner.info

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def window_ms(self) -> int:
        return int(self.inner.window_ms)

    def embed_spans(self, audio: Any, spans_ms: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.embed_spans(audio, spans_ms)
        finally:
            self.wall_s += time.perf_counter() - started


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def _machine() -> dict[str, Any]:
    """The CPU a figure was measured on: the int8 models run 2-4x faster with AVX-512 VNNI."""
    cpu_model, flags = "", ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and not cpu_model:
                cpu_model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "avx512_vnni": "avx512_vnni" in flags.split(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def build(readers: Sequence[str], turns_each: int, vad: Any) -> tuple[Any, list[Any]]:
    """Rotation of whole utterances; the reference (start_ms, end_ms, reader)."""
    from globalvoice.domain.audio import Pcm
    from globalvoice.media.pcm import decode_audio

    pieces, reference, offset = [], [], 0
    gap = np.zeros(round(GAP_S * 16_000), dtype=np.float32)
    for turn in range(turns_each * len(readers)):
        reader = readers[turn % len(readers)]
        files = sorted((SPEECH / "librispeech").glob(f"{reader}-*.flac"))
        clip = decode_audio(files[turn // len(readers)], rate_hz=16_000)
        start = offset * 1000 // 16_000
        reference += [(start + s.start_ms, start + s.end_ms, reader) for s in vad.detect(clip)]
        pieces += [clip.samples, gap]
        offset += len(clip.samples) + len(gap)
    return Pcm(samples=np.concatenate(pieces), rate_hz=16_000), reference


def ljspeech() -> Any:
    from globalvoice.domain.audio import Pcm
    from globalvoice.media.pcm import decode_audio

    gap = np.zeros(round(GAP_S * 16_000), dtype=np.float32)
    clips = sorted((SPEECH / "ljspeech").glob("LJ001-00*.wav"))
    pieces = [p for c in clips for p in (decode_audio(c, rate_hz=16_000).samples, gap)]
    return Pcm(samples=np.concatenate(pieces), rate_hz=16_000)


def measure(name: str, audio: Any, reference: list[Any], truth: int, repeat: int) -> dict[str, Any]:
    from tests.der import der

    from globalvoice.config.settings import Settings
    from globalvoice.engines import registry
    from globalvoice.pipeline.analyse.diarize import diarize

    settings = Settings()
    vad = registry.build_vad(settings)
    embedder = TimedEmbedder(registry.build_speaker(settings))
    speech = vad.detect(audio)
    diarize(audio, speech, embedder=embedder)  # warm-up
    walls, cpus, embeds = [], [], []
    result = None
    for _ in range(repeat):
        embedder.wall_s = 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        result = diarize(audio, speech, embedder=embedder)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        embeds.append(embedder.wall_s)
    assert result is not None
    minutes = audio.duration_ms / 60_000
    score = der(reference, [(t.start_ms, t.end_ms, t.speaker_id) for t in result.turns])
    return {
        "case": name,
        "audio_s": round(audio.duration_ms / 1000, 1),
        "speech_s": round(sum(s.end_ms - s.start_ms for s in speech) / 1000, 1),
        "speakers_true": truth,
        "speakers_found": result.estimated_count,
        "overlaps_found": len(result.overlaps),
        "der": round(score.der, 4) if reference else None,
        "der_confusion": round(score.confusion, 4) if reference else None,
        "wall_s": round(min(walls), 3),
        "cpu_s": round(min(cpus), 3),
        "embed_wall_s": round(min(embeds), 3),
        "wall_s_per_audio_min": round(min(walls) / minutes, 3),
        "cpu_s_per_audio_min": round(min(cpus) / minutes, 3),
        "repeats": repeat,
        "embedder": result.embedder,
    }


@app.command()
def main(
    repeat: Annotated[int, typer.Option(min=1, help="timed runs per case (minimum reported)")] = 3,
    turns_each: Annotated[int, typer.Option(min=1, max=10, help="utterances per reader")] = 4,
) -> None:
    """Diarize LibriSpeech mixtures of 2-5 readers and LJSpeech; one JSON line per case."""
    from globalvoice.config.settings import Settings
    from globalvoice.engines import registry

    sha = _git("rev-parse", "--short", "HEAD") or "nogit"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    results = HERE / "results"
    results.mkdir(parents=True, exist_ok=True)
    log = results / f"{today}-{sha}.jsonl"
    vad = registry.build_vad(Settings())
    machine = _machine()
    cases = [
        (name, *build(readers, turns_each, vad), len(readers)) for name, readers in CASES.items()
    ]
    cases.append(("ljspeech-1", ljspeech(), [], 1))
    for name, audio, reference, truth in cases:
        line = {
            "bench": "diarize",
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "git_sha": sha,
            "git_dirty": dirty,
            "machine": machine,
            **measure(name, audio, reference, truth, repeat),
        }
        print(json.dumps(line), flush=True)
        with log.open("a") as handle:
            handle.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    app()
