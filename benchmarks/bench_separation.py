"""Benchmark the dialogue/background separation (issue 17): quality, cost and memory.

Quality matrix (the default). LibriSpeech 1688-142285-0003/4/5/8 with 1.5 s between them
(2.5 s before the first and 3 s after the last) over each music file of
/work/shared/media/music (short ones tiled), at speech-to-music ratios of +6 and 0 dB (RMS of the
active speech against the music's RMS), written as 44.1 kHz stereo WAV (speech centred; both
stems scaled by one factor to a 0.9 peak, and the scaled stems kept for scoring). Each input is
dubbed twice in this process (models loaded once, one unrecorded warm-up dub first, artifact
cache off, the order of on and off alternating): separation on, and off (the source ducked
under the dub, the "before"). For each run:

- background: SDR (dB) of <stem>.background.flac against the true music, over the whole file and
  inside the speech spans, the input mix's SDR for reference, and the leak of the original
  speech (least-squares coefficient of the true speech in the background's mid channel, dB);
- final mix (<stem>.<lang>.m4a decoded at 48 kHz, mid channel, aligned to the dubbed speech by
  cross-correlation; the lag is reported, and the music's too): in 0.5 s windows (hop 0.25 s)
  a least-squares fit of the mix on [dubbed speech stem, true music, true original speech].
  Inside dubbed lines, the original speech left relative to the dubbed voice,
  20*log10(|b| rms(S) / (|a| rms(D))), median and 90th percentile (the worst windows; goal
  <= -30 dB); the music's level 20*log10(|c|) inside dubbed lines against between lines (no
  dubbed or original speech within 0.3 s): the dip as heard (goal: within 6 dB). Also the
  original speech heard outside the dubbed lines (windows with original speech that are not
  wholly inside a dubbed line: a line's true onset and tail beyond its analysed span), relative
  to the dubbed voice's level, and the dubbed voice's level against the original speech
  (ducking leaves the original speech at duck_db minus that: -21 dB needs a dub 7 dB louder);
- intelligibility: WER of the m4a (and of the speech stem alone) transcribed by the pipeline's
  own Whisper against the dub's own text;
- cost: dub wall and CPU seconds, the separation's cpu_s / audio_s from the manifest.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_separation.py [--minutes 2]

`--minutes N` also dubs N minutes of LJSpeech over the jazz (+6 dB), separation on and off,
each dub in a fresh process (`--no-matrix --minutes N`: only that).

Memory: `--memory` runs only the separate stage (`separate_source`, artifact cache off, a
3 s dialogue span every 5 s) on 1, 10 and 30 minutes of LJSpeech over the jazz, each in a fresh
process, reporting its peak RSS (ru_maxrss), wall and CPU seconds:

    .venv/bin/python benchmarks/bench_separation.py --memory [--memory-minutes 1 ...]

Every record is printed as one JSON line and appended to
benchmarks/results/<date>-<sha>-separation.jsonl; a 'summary' line comes last.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import numpy.typing as npt
import typer

if TYPE_CHECKING:
    from globalvoice.dubbing.engines import DubEngines

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # tests.quality's WER and tests.test_dub_e2e's transcription
from benchmarks.bench_diarize import _git, _machine  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
LIBRISPEECH = MEDIA / "speech" / "librispeech"
LJSPEECH = MEDIA / "speech" / "ljspeech"
MUSIC = MEDIA / "music"
JAZZ = MUSIC / "macleod_vibe_ace_jazz.ogg"
UTTERANCES = [f"1688-142285-{n:04d}.flac" for n in (3, 4, 5, 8)]
LJ_CLIPS = [f"LJ001-{n:04d}.wav" for n in range(1, 11)]
INPUT_RATE = 44_100
MIX_RATE = 48_000
LEAD_S, GAP_S, TAIL_S = 2.5, 1.5, 3.0
WINDOW_S, HOP_S = 0.5, 0.25
CLEAR_S = 0.3  # "between lines": no dubbed or original speech this close
PRESENT_DB = -20.0  # a regressor counts in a window when this close to its active level
MAX_LAG_S = 0.2
PEAK = 0.9

FloatArray = npt.NDArray[np.float64]
Spans = list[tuple[float, float]]  # seconds

app = typer.Typer(add_completion=False)


# ---------------------------------------------------------------- machine and log


@dataclass(frozen=True, slots=True)
class Log:
    path: Path
    header: dict[str, Any]

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        full = {**self.header, "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        full["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other jobs inflate wall time
        full.update(record)
        line = json.dumps(full, ensure_ascii=False)
        print(line, flush=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        return full


def _open_log() -> Log:
    sha = _git("rev-parse", "--short", "HEAD") or "nogit"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    results = HERE / "results"
    results.mkdir(parents=True, exist_ok=True)
    header = {"git_sha": sha, "git_dirty": dirty, "machine": _machine()}
    return Log(results / f"{today}-{sha}-separation.jsonl", header)


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _ffmpeg() -> str:
    from globalvoice.media.ffmpeg import ffmpeg_exe

    return ffmpeg_exe()


def _r(value: float | None, digits: int = 2) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


# ---------------------------------------------------------------- signals


def _resample(samples: FloatArray, rate: int, to: int) -> FloatArray:
    from scipy.signal import resample_poly

    if rate == to:
        return samples
    g = np.gcd(rate, to)
    return np.asarray(resample_poly(samples, to // g, rate // g, axis=0), dtype=np.float64)


def _read(path: Path) -> tuple[FloatArray, int]:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return np.asarray(data), int(rate)


def _rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _db(ratio: float) -> float:
    return float(20 * np.log10(max(ratio, 1e-12)))


def active_rms(speech: FloatArray, rate: int, floor_db: float = -40.0) -> float:
    """RMS over the 20 ms frames within `floor_db` of the loudest (pauses left out)."""
    size = rate // 50
    frames = speech[: len(speech) // size * size].reshape(-1, size)
    energy = np.mean(np.square(frames), axis=1)
    active = energy > energy.max() * 10 ** (floor_db / 10)
    return float(np.sqrt(np.mean(energy[active])))


def best_lag(x: FloatArray, ref: FloatArray, max_lag: int) -> int:
    """L where x[t] best matches ref[t - L] (|L| <= max_lag), by FFT cross-correlation."""
    n = len(x) + len(ref)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.arange(-max_lag, max_lag + 1)
    return int(lags[int(np.argmax(np.abs(corr[lags])))])


def shift(x: FloatArray, lag: int) -> FloatArray:
    """x advanced by `lag` samples (x[t + lag]), zero-filled."""
    if lag >= 0:
        return np.concatenate([x[lag:], np.zeros((lag, *x.shape[1:]))])
    return np.concatenate([np.zeros((-lag, *x.shape[1:])), x[:lag]])


def sdr(ref: FloatArray, est: FloatArray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(float(np.sum((ref - est) ** 2)), 1e-20)))


def _mask(spans: Spans, rate: int, length: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros(length, dtype=bool)
    for start, end in spans:
        mask[max(0, round(start * rate)) : max(0, round(end * rate))] = True
    return mask


def _fit(target: FloatArray, columns: Sequence[FloatArray]) -> FloatArray:
    matrix = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    return np.asarray(coef, dtype=np.float64)


# ---------------------------------------------------------------- quality inputs


@dataclass(frozen=True, slots=True)
class TestInput:
    path: Path
    music_name: str
    ratio_db: float
    speech: FloatArray  # (n,) at INPUT_RATE, as in the file (scaled)
    music: FloatArray  # (n, 2) at INPUT_RATE, as in the file (scaled)
    spans: Spans  # the utterances, seconds
    scale: float


def _speech_track() -> tuple[FloatArray, Spans]:
    parts: list[FloatArray] = [np.zeros(round(LEAD_S * INPUT_RATE))]
    spans: Spans = []
    at = LEAD_S
    for index, name in enumerate(UTTERANCES):
        data, rate = _read(LIBRISPEECH / name)
        clip = _resample(data[:, 0], rate, INPUT_RATE)
        parts.append(clip)
        spans.append((at, at + len(clip) / INPUT_RATE))
        at += len(clip) / INPUT_RATE
        pause = TAIL_S if index == len(UTTERANCES) - 1 else GAP_S
        parts.append(np.zeros(round(pause * INPUT_RATE)))
        at += pause
    return np.concatenate(parts), spans


def build_test_input(music_path: Path, ratio_db: float, work: Path) -> TestInput:
    import soundfile as sf

    speech, spans = _speech_track()
    data, rate = _read(music_path)
    music = _resample(data if data.shape[1] == 2 else np.repeat(data[:, :1], 2, 1), rate, 44_100)
    music = np.resize(music.T, (2, len(speech))).T  # tiled to length
    music = music * (active_rms(speech, INPUT_RATE) / _rms(music) / 10 ** (ratio_db / 20))
    mix = speech[:, None] + music
    scale = PEAK / float(np.max(np.abs(mix)))
    path = work / f"{music_path.stem}_{ratio_db:+g}dB.wav"
    sf.write(str(path), mix * scale, INPUT_RATE, subtype="PCM_24")
    return TestInput(path, music_path.stem, ratio_db, speech * scale, music * scale, spans, scale)


# ---------------------------------------------------------------- one dub


@dataclass(frozen=True, slots=True)
class DubRun:
    out_dir: Path
    manifest: dict[str, Any]
    wall_s: float
    cpu_s: float
    stages: dict[str, dict[str, float]]


def dub_once(
    path: Path, target: str, separation: str, engines: "DubEngines", out_dir: Path
) -> DubRun:
    from globalvoice.config.settings import Settings
    from globalvoice.dubbing.local import LocalDub, run_local
    from globalvoice.dubbing.steps import StepRun
    from globalvoice.storage.cache import ArtifactCache

    pipeline = Settings().pipeline.model_copy(update={"separation": separation})
    with tempfile.TemporaryDirectory(prefix="gv-sep-cache-") as cache_root:
        cache = ArtifactCache.local(Path(cache_root), enabled=False)
        request = LocalDub(input_path=path, targets=(target,), out_dir=out_dir)
        wall, cpu = time.perf_counter(), _cpu_s()
        result = run_local(request, engines, StepRun(settings=pipeline, cache=cache))
        wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    manifest: dict[str, Any] = json.loads(result.manifest.to_json())
    stages: dict[str, dict[str, float]] = {}
    for stage in manifest["stages"]:
        entry = stages.setdefault(stage["stage"], {"wall_s": 0.0, "cpu_s": 0.0})
        entry["wall_s"] = round(entry["wall_s"] + stage["wall_s"], 3)
        entry["cpu_s"] = round(entry["cpu_s"] + stage["cpu_s"], 3)
    return DubRun(out_dir, manifest, wall, cpu, stages)


def _stem(path: Path) -> str:
    from globalvoice.dubbing.request import output_stem

    return output_stem(path.name)


def sound_figures(manifest: dict[str, Any]) -> dict[str, Any]:
    sound = manifest.get("sound") or {}
    figures = sound.get("separation") or {}
    audio_s = figures.get("audio_s")
    cpu_s = figures.get("cpu_s")
    return {
        "sound_mix": sound.get("mix"),
        "sound_reason": sound.get("reason"),
        "bed_gain_db": sound.get("gain_db"),
        "separation_cpu_s": cpu_s,
        "separation_audio_s": audio_s,
        "separation_cpu_per_audio_s": _r(cpu_s / audio_s, 4) if cpu_s and audio_s else None,
        "separation_dialogue_s": figures.get("dialogue_s"),
        "separation_dialogue_share_db": figures.get("dialogue_share_db"),
        "separation_background_share_db": figures.get("background_share_db"),
    }


# ---------------------------------------------------------------- scoring


def score_background(test: TestInput, background_path: Path) -> dict[str, Any]:
    """The background stem against the true music (and the input mix's SDR for reference)."""
    background, rate = _read(background_path)
    if rate != INPUT_RATE:
        background = _resample(background, rate, INPUT_RATE)
    music = test.music
    lag = best_lag(background.mean(axis=1), music.mean(axis=1), round(MAX_LAG_S * INPUT_RATE))
    background = shift(background, lag)
    n = min(len(background), len(music))
    background, music, speech = background[:n], music[:n], test.speech[:n]
    inside = _mask(test.spans, INPUT_RATE, n)
    mix = music + speech[:, None]
    coef = _fit(background[inside].mean(axis=1), [music[inside].mean(axis=1), speech[inside]])
    return {
        "background_lag_samples": lag,
        "background_sdr_db": _r(sdr(music, background)),
        "background_sdr_speech_db": _r(sdr(music[inside], background[inside])),
        "background_sdr_between_db": _r(sdr(music[~inside], background[~inside])),
        "mix_sdr_db": _r(sdr(music, mix)),
        "mix_sdr_speech_db": _r(sdr(music[inside], mix[inside])),
        "background_music_gain_speech_db": _r(_db(abs(float(coef[0])))),
        "background_speech_leak_db": _r(_db(abs(float(coef[1])))),
    }


def _dubbed_spans(manifest: dict[str, Any], target: str) -> Spans:
    spans: Spans = []
    for segment in manifest["segments"]:
        entry = segment["targets"][target]
        if entry.get("is_dubbed") and entry.get("dubbed_start_ms") is not None:
            spans.append((entry["dubbed_start_ms"] / 1000, entry["dubbed_end_ms"] / 1000))
    return spans


def _inside(start: float, end: float, spans: Spans) -> bool:
    return any(a <= start and end <= b for a, b in spans)


def _near(start: float, end: float, spans: Spans, margin: float) -> bool:
    return any(start < b + margin and a - margin < end for a, b in spans)


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def score_mix(test: TestInput, run: DubRun, target: str) -> dict[str, Any]:
    """Windowed least squares of the final mix on [dubbed voice, true music, true speech]."""
    from globalvoice.media.pcm import decode_audio, stream_audio

    stem = _stem(test.path)
    blocks = stream_audio(
        run.out_dir / f"{stem}.{target}.m4a",
        rate_hz=MIX_RATE,
        channels=2,
        block_frames=MIX_RATE * 10,
    )
    mix = np.concatenate(list(blocks)).astype(np.float64).mean(axis=1)
    dub_pcm = decode_audio(run.out_dir / f"{stem}.{target}.speech.flac", rate_hz=MIX_RATE)
    dub = np.asarray(dub_pcm.samples, dtype=np.float64)
    music = _resample(test.music.mean(axis=1), INPUT_RATE, MIX_RATE)
    speech = _resample(test.speech, INPUT_RATE, MIX_RATE)
    max_lag = round(MAX_LAG_S * MIX_RATE)
    n0 = min(len(mix), len(dub), len(music))
    lag = best_lag(mix[:n0], dub[:n0], max_lag)
    music_lag = best_lag(mix[:n0], music[:n0], max_lag)
    mix = shift(mix, lag)
    n = min(len(mix), len(dub), len(music), len(speech))
    mix, dub, music, speech = mix[:n], dub[:n], music[:n], speech[:n]

    dubbed = _dubbed_spans(run.manifest, target)
    dub_active = _rms(dub[_mask(dubbed, MIX_RATE, n)]) if dubbed else 0.0
    speech_active = active_rms(speech, MIX_RATE)
    music_level = _rms(music)
    present = 10 ** (PRESENT_DB / 20)
    size, hop = round(WINDOW_S * MIX_RATE), round(HOP_S * MIX_RATE)
    left_db: list[float] = []
    residual_db: list[float] = []
    music_in: list[float] = []
    music_between: list[float] = []
    gains: list[float] = []
    outside: list[list[FloatArray]] = []  # windows of original speech out of the dub: y, s, ...
    for first in range(0, n - size + 1, hop):
        start, end = first / MIX_RATE, (first + size) / MIX_RATE
        window = slice(first, first + size)
        y, d, m, s = mix[window], dub[window], music[window], speech[window]
        has_d, has_m = _rms(d) > dub_active * present, _rms(m) > music_level * present
        has_s = _rms(s) > speech_active * present
        if _inside(start, end, dubbed) and has_d:
            columns = [d] + [m] * has_m + [s] * has_s
            coef = _fit(y, columns)
            a = abs(float(coef[0]))
            gains.append(a)
            if has_s:
                left_db.append(_db(abs(float(coef[-1])) * _rms(s) / max(a * _rms(d), 1e-12)))
            if has_m:
                music_in.append(_db(abs(float(coef[1]))))
            explained = np.stack(columns, axis=1) @ coef
            residual_db.append(_db(_rms(y - explained) / max(a * _rms(d), 1e-12)))
        elif has_s and not _inside(start, end, dubbed):
            outside.append([y, s] + [d] * has_d + [m] * has_m)
        elif (
            has_m
            and not _near(start, end, dubbed, CLEAR_S)
            and not _near(start, end, test.spans, CLEAR_S)
        ):
            music_between.append(_db(abs(float(_fit(y, [m])[0]))))
    # original speech outside the dubbed lines (before a line starts, after it ends), relative
    # to the dubbed voice's level in the mix
    gain = _median(gains) or 1.0
    outside_db = [
        _db(abs(float(_fit(y, columns)[0])) * _rms(columns[0]) / (gain * dub_active))
        for y, *columns in outside
    ]
    inside_db, between_db = _median(music_in), _median(music_between)
    dip = inside_db - between_db if inside_db is not None and between_db is not None else None
    return {
        "mix_lag_samples": lag,
        "mix_music_lag_samples": music_lag,
        "dubbed_lines": len(dubbed),
        "windows_speech_left": len(left_db),
        "orig_speech_left_median_db": _r(_median(left_db)),
        "orig_speech_left_p90_db": _r(_percentile(left_db, 90)),
        "unexplained_residual_median_db": _r(_median(residual_db)),
        "windows_speech_outside_lines": len(outside_db),
        "orig_speech_outside_lines_median_db": _r(_median(outside_db)),
        "orig_speech_outside_lines_max_db": _r(max(outside_db, default=None)),
        "dub_vs_orig_speech_db": _r(_db(dub_active / speech_active)),
        "windows_music_in_lines": len(music_in),
        "windows_music_between": len(music_between),
        "music_in_lines_db": _r(inside_db),
        "music_between_db": _r(between_db),
        "music_dip_db": _r(dip),
    }


def wer(reference: str, hypothesis: str, language: str) -> float:
    from tests.quality import wer as tests_wer

    return tests_wer(reference, hypothesis, language)


def transcribe_file(path: Path, language: str, engines: "DubEngines") -> str:
    from tests.test_dub_e2e import transcribe_file as tests_transcribe

    return tests_transcribe(path, language, engines)


def score_words(path: Path, run: DubRun, target: str, engines: "DubEngines") -> dict[str, Any]:
    stem = _stem(path)
    reference = " ".join(
        s["targets"][target]["text"]
        for s in run.manifest["segments"]
        if s["targets"][target].get("is_dubbed")
    )
    heard = transcribe_file(run.out_dir / f"{stem}.{target}.m4a", target, engines)
    alone = transcribe_file(run.out_dir / f"{stem}.{target}.speech.flac", target, engines)
    return {
        "wer_mix": _r(wer(reference, heard, target), 4),
        "wer_speech_stem": _r(wer(reference, alone, target), 4),
        "reference_text": reference,
        "heard_text": heard,
    }


# ---------------------------------------------------------------- matrix and cost


def _load_engines() -> "DubEngines":
    from globalvoice.cli.process import limit_malloc_arenas
    from globalvoice.config.settings import Settings
    from globalvoice.dubbing.engines import build_engines

    limit_malloc_arenas()
    settings = Settings()
    if settings.pipeline.separation == "off":
        settings = settings.model_copy(
            update={"pipeline": settings.pipeline.model_copy(update={"separation": "auto"})}
        )
    engines = build_engines(settings)
    if engines.separator is None:
        raise SystemExit(f"no separator: {engines.separator_unavailable}")
    return engines


def _run_record(run: DubRun, input_s: float) -> dict[str, Any]:
    return {
        "dub_wall_s": round(run.wall_s, 3),
        "dub_cpu_s": round(run.cpu_s, 3),
        "rtf": round(run.wall_s / input_s, 4),
        "stages": run.stages,
        **sound_figures(run.manifest),
    }


def _modes(index: int) -> tuple[str, str]:
    """Alternate which mode runs first, so warm-up favours neither."""
    return ("on", "off") if index % 2 == 0 else ("off", "on")


def run_matrix(
    log: Log,
    engines: "DubEngines",
    work: Path,
    plan: tuple[Sequence[Path], Sequence[float], str],
) -> list[dict[str, Any]]:
    music_files, ratios, target = plan
    records: list[dict[str, Any]] = []
    combos = [(music, ratio) for music in music_files for ratio in ratios]
    for index, (music_path, ratio) in enumerate(combos):
        test = build_test_input(music_path, ratio, work)
        input_s = len(test.speech) / INPUT_RATE
        for mode in _modes(index):
            out_dir = work / f"out-{test.path.stem}-{mode}"
            run = dub_once(test.path, target, mode, engines, out_dir)
            record: dict[str, Any] = {
                "bench": "separation-quality",
                "music": test.music_name,
                "ratio_db": ratio,
                "separation": mode,
                "target": target,
                "input_s": round(input_s, 3),
                "input_scale": round(test.scale, 4),
                "utterances": UTTERANCES,
                "speech_spans_s": [[round(a, 3), round(b, 3)] for a, b in test.spans],
                "dubbed_spans_s": [
                    [round(a, 3), round(b, 3)] for a, b in _dubbed_spans(run.manifest, target)
                ],
                **_run_record(run, input_s),
            }
            background = out_dir / f"{_stem(test.path)}.background.flac"
            if background.exists():
                record.update(score_background(test, background))
            record.update(score_mix(test, run, target))
            record.update(score_words(test.path, run, target, engines))
            records.append(log.emit(record))
    return records


def _lj_playlist(seconds: float, work: Path) -> Path:
    import soundfile as sf

    first = sf.info(str(LJSPEECH / LJ_CLIPS[0]))
    gap = work / "lj_gap.wav"
    sf.write(str(gap), np.zeros(round(0.4 * first.samplerate), dtype=np.int16),
             first.samplerate, subtype="PCM_16")  # fmt: skip
    entries: list[str] = []
    total = 0.0
    while total < seconds:
        for name in LJ_CLIPS:
            entries += [f"file '{LJSPEECH / name}'", f"file '{gap}'"]
            total += sf.info(str(LJSPEECH / name)).duration + 0.4
    playlist = work / "lj_concat.txt"
    playlist.write_text("\n".join(entries) + "\n", encoding="utf-8")
    return playlist


def _jazz_gain_db(ratio_db: float) -> float:
    """The jazz's gain that puts the LJSpeech clips `ratio_db` above it (RMS, active speech)."""
    clips = [_read(LJSPEECH / name) for name in LJ_CLIPS]
    speech = np.concatenate([data[:, 0] for data, _ in clips])
    jazz, _ = _read(JAZZ)
    return _db(active_rms(speech, clips[0][1])) - ratio_db - _db(_rms(jazz))


def build_lj_over_jazz(minutes: float, work: Path, ratio_db: float = 6.0) -> Path:
    """N minutes of LJSpeech (0.4 s gaps) over the jazz looped, 44.1 kHz stereo FLAC, 6 dB of
    headroom; made by ffmpeg, so no long signal is held in this process."""
    seconds = minutes * 60
    playlist = _lj_playlist(seconds, work)
    gain = _jazz_gain_db(ratio_db)
    out = work / f"lj_over_jazz_{minutes:g}min.flac"
    graph = (
        f"[0:a]aresample={INPUT_RATE},pan=stereo|c0=c0|c1=c0[s];"
        f"[1:a]aresample={INPUT_RATE},volume={gain:.2f}dB[m];"
        "[s][m]amix=inputs=2:duration=first:normalize=0,volume=-6dB[a]"
    )
    subprocess.run(
        [
            _ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "concat", "-safe", "0", "-i", str(playlist),
            "-stream_loop", "-1", "-i", str(JAZZ),
            "-filter_complex", graph, "-map", "[a]", "-t", f"{seconds:.3f}",
            "-ar", str(INPUT_RATE), "-c:a", "flac", "-sample_fmt", "s16", str(out),
        ],
        check=True,
    )  # fmt: skip
    return out


def cost_child(source: Path, mode: str, target: str, result_path: Path) -> None:
    """One dub of `source` in this (fresh) process: models load first, the dub is timed."""
    loaded = time.perf_counter()
    engines = _load_engines()
    loaded = time.perf_counter() - loaded
    with tempfile.TemporaryDirectory(prefix="gv-sep-cost-", dir=source.parent) as out:
        run = dub_once(source, target, mode, engines, Path(out))
    input_s = run.manifest["input"]["duration_ms"] / 1000
    record = {
        "input_s": input_s,
        "model_load_wall_s": round(loaded, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **_run_record(run, input_s),
    }
    result_path.write_text(json.dumps(record), encoding="utf-8")


def run_cost(log: Log, work: Path, minutes: float, target: str) -> dict[str, Any]:
    """N minutes of LJSpeech over jazz dubbed with separation on and off, each dub in a fresh
    process (in one process the second dub of an input reuses in-memory engine state: the
    translation candidates took 6.4 s in the first dub of 2 min and 0.01 s in the second)."""
    path = build_lj_over_jazz(minutes, work)
    runs: dict[str, dict[str, Any]] = {}
    for mode in ("on", "off"):
        result = work / f"cost-{minutes:g}-{mode}.json"
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--target", target,
             "--cost-child", str(path), "--cost-mode", mode, "--child-result", str(result)],
            check=True, stdout=sys.stderr,
        )  # fmt: skip
        child = json.loads(result.read_text(encoding="utf-8"))
        runs[mode] = log.emit(
            {
                "bench": "separation-cost",
                "input": f"ljspeech over jazz (+6 dB), {minutes:g} min",
                "minutes": minutes,
                "separation": mode,
                "target": target,
                "fresh_process": True,
                **child,
            }
        )
    return {
        "minutes": minutes,
        "wall_s": {mode: runs[mode]["dub_wall_s"] for mode in runs},
        "cpu_s": {mode: runs[mode]["dub_cpu_s"] for mode in runs},
        "wall_ratio_on_off": round(runs["on"]["dub_wall_s"] / runs["off"]["dub_wall_s"], 3),
        "cpu_ratio_on_off": round(runs["on"]["dub_cpu_s"] / runs["off"]["dub_cpu_s"], 3),
        "separation_cpu_per_audio_s": runs["on"]["separation_cpu_per_audio_s"],
    }


def _med(records: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return _r(statistics.median(values), 3) if values else None


_ROW_KEYS = (
    "background_sdr_db",
    "background_sdr_speech_db",
    "mix_sdr_db",
    "mix_sdr_speech_db",
    "background_speech_leak_db",
    "orig_speech_left_median_db",
    "orig_speech_left_p90_db",
    "music_in_lines_db",
    "music_between_db",
    "music_dip_db",
    "unexplained_residual_median_db",
    "orig_speech_outside_lines_median_db",
    "orig_speech_outside_lines_max_db",
    "dub_vs_orig_speech_db",
    "wer_mix",
    "wer_speech_stem",
    "dub_wall_s",
    "dub_cpu_s",
    "separation_cpu_per_audio_s",
    "mix_lag_samples",
)


def summarise_matrix(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    keys = sorted({(r["music"], r["ratio_db"]) for r in records})
    wall_ratios: list[float] = []
    cpu_ratios: list[float] = []
    for music, ratio in keys:
        row: dict[str, Any] = {"music": music, "ratio_db": ratio}
        pair = {
            r["separation"]: r for r in records if (r["music"], r["ratio_db"]) == (music, ratio)
        }
        for mode, record in pair.items():
            row[mode] = {key: record.get(key) for key in _ROW_KEYS if record.get(key) is not None}
        if "on" in pair and "off" in pair:
            wall_ratios.append(pair["on"]["dub_wall_s"] / pair["off"]["dub_wall_s"])
            cpu_ratios.append(pair["on"]["dub_cpu_s"] / pair["off"]["dub_cpu_s"])
        rows.append(row)
    medians = {
        mode: {key: _med([r for r in records if r["separation"] == mode], key) for key in _ROW_KEYS}
        for mode in ("on", "off")
    }
    on = [r for r in records if r["separation"] == "on"]
    return {
        "rows": rows,
        "medians": medians,
        "median_wall_ratio_on_off": _r(statistics.median(wall_ratios), 3) if wall_ratios else None,
        "median_cpu_ratio_on_off": _r(statistics.median(cpu_ratios), 3) if cpu_ratios else None,
        "goals_on": {
            "orig_speech_left_p90_le_-30db": sum(
                (r.get("orig_speech_left_p90_db") or 0) <= -30 for r in on
            ),
            "music_dip_within_6db": sum(
                r.get("music_dip_db") is not None and r["music_dip_db"] >= -6 for r in on
            ),
            "runs": len(on),
        },
    }


# ---------------------------------------------------------------- memory (separate stage only)


def _rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def memory_child(source: Path, result_path: Path) -> None:
    """Only the separate stage on `source`, in this (fresh) process."""
    from globalvoice.cli.process import limit_malloc_arenas

    limit_malloc_arenas()
    from globalvoice.config.settings import Settings
    from globalvoice.engines import registry
    from globalvoice.media.probe import probe_media
    from globalvoice.pipeline.separate.stems import SeparationJob, StemPaths, separate_source
    from globalvoice.storage.cache import ArtifactCache

    separator = registry.build_separator(Settings())
    info = probe_media(source)
    spans = [(t, t + 3000) for t in range(1000, info.duration_ms - 3000, 5000)]
    job = SeparationJob(source=source, info=info, digest=f"bench-{source.name}", spans_ms=spans)
    rss_load = _rss_kib()
    with tempfile.TemporaryDirectory(prefix="gv-sep-mem-", dir=source.parent) as tmp:
        out = StemPaths(dialogue=Path(tmp) / "d.flac", background=Path(tmp) / "b.flac")
        cache = ArtifactCache.local(Path(tmp) / "cache", enabled=False)
        wall, cpu = time.perf_counter(), _cpu_s()
        figures = separate_source(job, separator, out, cache)
        wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    audio_s = info.duration_ms / 1000
    record = {
        "audio_s": audio_s,
        "spans": len(spans),
        "rss_after_load_mib": round(rss_load / 1024, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_per_audio_s": round(cpu / audio_s, 4),
        "wall_per_audio_s": round(wall / audio_s, 4),
        "figures": figures.model_dump(),
    }
    result_path.write_text(json.dumps(record), encoding="utf-8")


def run_memory(log: Log, lengths: Sequence[float], work: Path) -> list[dict[str, Any]]:
    records = []
    for minutes in lengths:
        started = time.perf_counter()
        source = build_lj_over_jazz(minutes, work)
        build_s = time.perf_counter() - started
        result = work / f"memory-{minutes:g}.json"
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()),
             "--memory-child", str(source), "--child-result", str(result)],
            check=True, stdout=sys.stderr,
        )  # fmt: skip
        child = json.loads(result.read_text(encoding="utf-8"))
        source.unlink()
        records.append(
            log.emit(
                {
                    "bench": "separation-memory",
                    "minutes": minutes,
                    "input": f"ljspeech over jazz (+6 dB), {minutes:g} min, 44.1 kHz stereo FLAC",
                    "input_build_s": round(build_s, 3),
                    **child,
                }
            )
        )
    return records


# ---------------------------------------------------------------- CLI


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="gv-bench-sep-") as tmp:
        yield Path(tmp)


def _music_files(names: Sequence[str] | None) -> list[Path]:
    found = sorted(MUSIC.glob("*.ogg"))
    if names:
        found = [path for path in found if any(name in path.stem for name in names)]
    return found


@app.command()
def main(
    music: Annotated[
        list[str] | None, typer.Option(help="only music files whose name contains this")
    ] = None,
    ratio: Annotated[
        list[float] | None, typer.Option(help="speech-to-music ratio, dB (default 6 and 0)")
    ] = None,
    target: Annotated[str, typer.Option(help="target language")] = "es",
    matrix: Annotated[bool, typer.Option(help="run the quality matrix")] = True,
    minutes: Annotated[
        list[float] | None, typer.Option(help="also dub N min of LJSpeech over jazz, on and off")
    ] = None,
    memory: Annotated[
        bool, typer.Option("--memory", help="only the separate stage's memory, per length")
    ] = False,
    memory_minutes: Annotated[
        list[float] | None, typer.Option(help="lengths for --memory (default 1, 10, 30)")
    ] = None,
    keep: Annotated[Path | None, typer.Option(help="keep inputs and outputs here")] = None,
    warmup: Annotated[
        bool, typer.Option(help="matrix: dub once, unrecorded, before timing (start-up costs)")
    ] = True,
    summarise: Annotated[
        Path | None,
        typer.Option(help="only summarise the quality records of this results file again"),
    ] = None,
    cost_child_source: Annotated[Path | None, typer.Option("--cost-child", hidden=True)] = None,
    cost_mode: Annotated[str, typer.Option(hidden=True)] = "on",
    memory_child_source: Annotated[Path | None, typer.Option("--memory-child", hidden=True)] = None,
    child_result: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Separation quality (on vs off), cost and memory; one JSON line per record."""
    if memory_child_source is not None and child_result is not None:
        memory_child(memory_child_source, child_result)
        return
    if cost_child_source is not None and child_result is not None:
        cost_child(cost_child_source, cost_mode, target, child_result)
        return
    log = _open_log()
    summary: dict[str, Any] = {"bench": "separation-summary"}
    if summarise is not None:
        lines = summarise.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        quality = [r for r in records if r.get("bench") == "separation-quality"]
        summary["matrix"] = summarise_matrix(quality)
        summary["summarised_from"] = summarise.name
        log.emit(summary)
        return
    with _workdir(keep) as work:
        if memory:
            records = run_memory(log, memory_minutes or [1.0, 10.0, 30.0], work)
            keys = ("minutes", "peak_rss_mib", "rss_after_load_mib", "wall_s", "cpu_s")
            summary["memory"] = [
                {key: r[key] for key in (*keys, "cpu_per_audio_s")} for r in records
            ]
            log.emit(summary)
            return
        if matrix:
            engines = _load_engines()
            if warmup:
                first = build_test_input(_music_files(music)[0], 6.0, work)
                started = time.perf_counter()
                dub_once(first.path, target, "on", engines, work / "out-warmup")
                summary["warmup_wall_s"] = round(time.perf_counter() - started, 3)
            plan = (_music_files(music), ratio or [6.0, 0.0], target)
            summary["matrix"] = summarise_matrix(run_matrix(log, engines, work, plan))
        summary["cost"] = [run_cost(log, work, n, target) for n in minutes or []]
    log.emit(summary)


if __name__ == "__main__":
    app()
