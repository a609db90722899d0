"""Benchmark voice matching: does the dubbed voice sound like the speaker, and is it still heard?

For each shared LibriSpeech reader (CC BY 4.0; 5 readers x 10 utterances): utterances 0-4, 0.4 s
apart, become a video that is dubbed en->es twice, with `voice_matching` on (a voice profile:
the closest shipped voice or blend + WORLD DSP) and off (the baseline: the fixed shipped voice of
the reader's sex, no DSP). Utterances 5-9 are held out.

- similarity: cosine between the dubbed speech stem and the centroid of the held-out
  utterances, measured with resemblyzer's GE2E encoder (a different embedder from the d-vector
  that chose the voice; not a product dependency). The choosing embedder's cosine is reported
  beside it. Install it into the dev venv with `.venv/bin/pip install -e ".[judge]"`, or by
  hand: `pip install torch==2.13.0` (the CPU wheel: check pip does not reach for a CUDA one),
  `pip install resemblyzer==0.1.4 "setuptools>=77.0.3,<81"` (its webrtcvad imports
  pkg_resources, which later setuptools dropped). scripts/install.sh does not install it.
- WER: Whisper (the pipeline's STT) on the dubbed speech stem against the Spanish text it
  speaks, per reader and pooled over all readers, both ways.
- profile_cpu_s: building one profile with the shipped voices' reference takes already read
  (they do not depend on the speaker and are cached with the artifacts); bank_cpu_s: reading
  those once. dsp_cpu_s_per_s: `apply_match` CPU seconds per second of dubbed speech (median).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_voices.py [--readers 1688,1998]

Prints a JSON line per reader as it goes, then one JSON object (with `wall_s`, the whole run);
appends that to benchmarks/results/<date>-<sha>.jsonl. All five readers: ~20 min on 2 cores.
"""

import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_diarize import _git, _machine  # noqa: E402

LIBRISPEECH = REPO.parent / "shared" / "media" / "speech" / "librispeech"
READERS = ("1688", "1998", "2033", "2414", "3331")
VIDEO_UTTERANCES = slice(0, 5)
HELD_OUT = slice(5, 10)
GAP_S = 0.4

app = typer.Typer(add_completion=False)


def _unit(vector: Any) -> Any:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / (np.linalg.norm(vector) + 1e-12)


class Judge:
    """resemblyzer GE2E: the independent embedder the similarity is measured with."""

    def __init__(self) -> None:
        import warnings

        warnings.filterwarnings("ignore")
        from resemblyzer import VoiceEncoder

        self._encoder = VoiceEncoder("cpu", verbose=False)

    def embed(self, pcm: Any) -> Any:
        from resemblyzer import preprocess_wav

        return _unit(self._encoder.embed_utterance(preprocess_wav(pcm.samples, pcm.rate_hz)))


def reader_files(reader: str) -> list[Path]:
    return sorted(LIBRISPEECH.glob(f"{reader}-*.flac"))


def build_video(reader: str, folder: Path) -> Path:
    from tests.conftest import concat_audio, video_from_audio

    wav = concat_audio(
        reader_files(reader)[VIDEO_UTTERANCES], folder / f"{reader}.wav", gap_s=GAP_S
    )
    return video_from_audio(wav, folder / f"{reader}.mp4")


def dub_once(video: Path, out: Path, engines: Any, matching: bool, cache: Any) -> dict[str, Any]:
    from tests.manifests import manifest_data

    from globalvoice.config.settings import Settings
    from globalvoice.dubbing.local import LocalDub, run_local
    from globalvoice.dubbing.steps import StepRun

    settings = Settings().pipeline.model_copy(update={"voice_matching": matching, "speakers": 1})
    request = LocalDub(input_path=video, targets=("es",), out_dir=out, source="en")
    return manifest_data(
        run_local(request, engines, StepRun(settings=settings, cache=cache)).manifest
    )


def judge_dub(
    manifest: dict[str, Any], out: Path, held: Any, held_choice: Any, engines: Any, judge: Judge
) -> dict[str, Any]:
    from tests.quality import wer
    from tests.test_dub_e2e import transcribe_file

    from globalvoice.media.pcm import decode_audio
    from globalvoice.pipeline.voices.profiles import embed_voice

    stem = out / next(a["path"] for a in manifest["artifacts"] if a["kind"] == "speech_stem")
    speech = decode_audio(stem, rate_hz=16_000)
    text = " ".join(s["targets"]["es"]["text"] for s in manifest["segments"])
    heard = transcribe_file(stem, "es", engines)
    stage = {s["stage"]: s for s in manifest["stages"]}
    return {
        "similarity": round(float(judge.embed(speech) @ held), 4),
        "chooser": round(float(embed_voice(speech, engines.speaker) @ held_choice), 4),
        "wer": round(wer(text, heard), 4),
        "words": len(text.split()),
        "text": text,
        "heard": heard,
        "voice": manifest["speakers"][0]["voice"],
        "voice_profile": manifest["speakers"][0].get("voice_profile"),
        "synthesize_fit_cpu_s": stage.get("synthesize_fit", {}).get("cpu_s"),
        "voice_profiles_cpu_s": stage.get("voice_profiles", {}).get("cpu_s"),
    }


def profile_timing(readers: list[str], engines: Any) -> dict[str, Any]:
    """CPU seconds: the shipped voices' reference takes once, then one profile per reader."""
    from globalvoice.domain.voices import VoiceBlend
    from globalvoice.media.pcm import decode_audio
    from globalvoice.pipeline.voices.profiles import VoiceBank, build_profile

    bank = VoiceBank(engines.tts, None)
    cpu = time.process_time()
    for name in engines.tts.voices():
        bank.take(VoiceBlend.single(name))
    bank_s = time.process_time() - cpu
    per_reader = {}
    for reader in readers:
        audio = _joined(
            [decode_audio(f, rate_hz=16_000) for f in reader_files(reader)[VIDEO_UTTERANCES]]
        )
        cpu = time.process_time()
        build_profile(
            audio,
            [(0, audio.duration_ms)],
            speaker_id=reader,
            bank=bank,
            embedder=engines.speaker,
        )
        per_reader[reader] = round(time.process_time() - cpu, 2)
    return {"bank_cpu_s": round(bank_s, 2), "profile_cpu_s": per_reader}


def dsp_cost(engines: Any, profile: Any, repeat: int = 5) -> float:
    """Median CPU seconds of `apply_match` per second of synthesized Spanish speech."""
    from globalvoice.media.voice_dsp import apply_match

    takes = [
        engines.tts.synthesize(text, voice=profile.voice.spec, language="es")
        for text in (
            "Bienvenidos de nuevo al canal, hoy vamos a construir una pequeña mesa de madera.",
            "El tiempo era perfecto, así que decidimos caminar junto al río hasta el atardecer.",
        )
    ]
    seconds = sum(t.duration_ms for t in takes) / 1000
    runs = []
    for _ in range(repeat):
        cpu = time.process_time()
        for take in takes:
            apply_match(take, profile.dsp)
        runs.append((time.process_time() - cpu) / seconds)
    return round(statistics.median(runs), 4)


def _joined(parts: list[Any]) -> Any:
    from globalvoice.domain.audio import Pcm

    return Pcm(samples=np.concatenate([p.samples for p in parts]), rate_hz=parts[0].rate_hz)


def _pooled_wer(rows: list[dict[str, Any]]) -> float:
    from tests.quality import wer

    return round(wer(" ".join(r["text"] for r in rows), " ".join(r["heard"] for r in rows)), 4)


@app.command()
def main(
    readers: Annotated[str, typer.Option(help="comma-separated LibriSpeech reader ids")] = ",".join(
        READERS
    ),
) -> None:
    """Dub each reader en->es with and without voice matching; one JSON object."""
    from globalvoice.config.settings import Settings
    from globalvoice.domain.voices import VoiceProfile
    from globalvoice.dubbing.engines import build_engines
    from globalvoice.media.pcm import decode_audio
    from globalvoice.pipeline.voices.profiles import SearchPolicy, embed_voice
    from globalvoice.storage.cache import ArtifactCache

    started = time.monotonic()
    chosen = [r for r in readers.split(",") if r]
    engines = build_engines(Settings())
    judge = Judge()
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        cache = ArtifactCache.local(folder / "cache")
        for reader in chosen:
            held_pcm = [decode_audio(f, rate_hz=16_000) for f in reader_files(reader)[HELD_OUT]]
            held = _unit(np.mean([judge.embed(p) for p in held_pcm], axis=0))
            held_choice = _unit(
                np.mean([embed_voice(p, engines.speaker) for p in held_pcm], axis=0)
            )
            video = build_video(reader, folder)
            row: dict[str, Any] = {}
            for matching in (False, True):
                out = folder / f"{reader}-{'matched' if matching else 'baseline'}"
                manifest = dub_once(video, out, engines, matching, cache)
                row["matched" if matching else "baseline"] = judge_dub(
                    manifest, out, held, held_choice, engines, judge
                )
            profile = VoiceProfile.from_dict({**row["matched"]["voice_profile"], "embedding": []})
            row["dsp_cpu_s_per_s"] = dsp_cost(engines, profile)
            row["gain"] = round(row["matched"]["similarity"] - row["baseline"]["similarity"], 4)
            rows[reader] = row
            print(json.dumps({"reader": reader, **row}), flush=True)
    timing = profile_timing(chosen, engines)
    base = [rows[r]["baseline"] for r in chosen]
    matched = [rows[r]["matched"] for r in chosen]
    sha = _git("rev-parse", "--short", "HEAD") or "nogit"
    result = {
        "bench": "voices",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_sha": sha,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": _machine(),
        "judge": "resemblyzer-0.1.4-ge2e",
        "chooser": engines.speaker.info.fingerprint,
        "per_reader": {
            r: {
                "similarity_baseline": rows[r]["baseline"]["similarity"],
                "similarity_matched": rows[r]["matched"]["similarity"],
                "gain": rows[r]["gain"],
                "chooser_similarity_baseline": rows[r]["baseline"]["chooser"],
                "chooser_similarity_matched": rows[r]["matched"]["chooser"],
                "wer_baseline": rows[r]["baseline"]["wer"],
                "wer_matched": rows[r]["matched"]["wer"],
                "voice_baseline": rows[r]["baseline"]["voice"],
                "voice_matched": rows[r]["matched"]["voice"],
                "dsp": rows[r]["matched"]["voice_profile"]["dsp"],
                "synthesize_fit_cpu_s": [
                    rows[r]["baseline"]["synthesize_fit_cpu_s"],
                    rows[r]["matched"]["synthesize_fit_cpu_s"],
                ],
                "voice_profiles_stage_cpu_s": rows[r]["matched"]["voice_profiles_cpu_s"],
                "dsp_cpu_s_per_s": rows[r]["dsp_cpu_s_per_s"],
            }
            for r in chosen
        },
        "similarity_baseline_mean": round(float(np.mean([b["similarity"] for b in base])), 4),
        "similarity_matched_mean": round(float(np.mean([m["similarity"] for m in matched])), 4),
        "gain_mean": round(float(np.mean([rows[r]["gain"] for r in chosen])), 4),
        "wer_baseline_pooled": _pooled_wer(base),
        "wer_matched_pooled": _pooled_wer(matched),
        "dsp_cpu_s_per_s_median": statistics.median(rows[r]["dsp_cpu_s_per_s"] for r in chosen),
        **timing,
        "profile_cpu_s_median": statistics.median(timing["profile_cpu_s"].values()),
        "search": repr(SearchPolicy()),
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=1), flush=True)
    results = HERE / "results"
    results.mkdir(parents=True, exist_ok=True)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    with (results / f"{today}-{sha}.jsonl").open("a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    app()
