"""End to end on real media with the real embedded engines: outputs, timing, loudness, words."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest

from globalvoice.config.settings import Settings
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.local import LocalDub, run_local
from globalvoice.dubbing.steps import StepRun
from globalvoice.media.pcm import decode_audio, stream_audio
from globalvoice.media.probe import probe_media
from globalvoice.pipeline.analyse.transcribe import detect_speech, transcribe_speech
from globalvoice.storage.cache import ArtifactCache
from tests.conftest import CountingTts, concat_audio, run_cli, video_from_audio
from tests.manifests import manifest_data, read_manifest
from tests.quality import wer

pytestmark = pytest.mark.slow

# Floors, not the goal. Whisper's WER on the dubbed speech of the LJSpeech minute (product
# defaults, voice matching on) moves with the CPU: the int8 ONNX and CTranslate2 kernels differ
# between AVX2, AVX-512 and VNNI. pt measured 4.9-11.3 % in earlier runs and 12.7 % on a 2-core
# AVX-512 AMD EPYC (the fresh machine, and again on 2026-12-07); a 20 % floor keeps a
# 7.3-point margin over the worst. es measured 5.8 % earlier and 7.9 % on that EPYC; the same
# 20 % keeps 12.1 points, room for a spread as wide as pt's (7.8 points). 2-3 points of each
# figure are Whisper writing numbers as digits (wer() here spells none out). The goal (<= 10 %)
# is a benchmark's to track, not this test's.
MAX_DUBBED_WER = {"es": 0.20, "pt": 0.20}

# Measured figures go to the test log (pytest -s) for the closing note.
report = print


def dub(
    path: Path,
    targets: Sequence[str],
    out: Path,
    engines: DubEngines,
    settings: Settings,
    cache: ArtifactCache | None = None,
) -> dict[str, Any]:
    request = LocalDub(input_path=path, targets=tuple(targets), out_dir=out)
    cache = cache or ArtifactCache.local(out.parent / "cache")
    return manifest_data(
        run_local(request, engines, StepRun(settings=settings.pipeline, cache=cache)).manifest
    )


# Where the mix counts as dialogue for its loudness (pipeline/output/mix.py): a line's span with
# the ducking's 100 ms hold and half its 120 ms ramp on either side.
_DIALOGUE_EDGE_MS = 160


def dialogue_loudness_of(path: Path, manifest: dict[str, Any], target: str) -> float:
    """The mix's loudness where its lines play (dubbed at their dubbed times, kept at their
    own): what a dub is normalised by."""
    rate = 48_000
    audio = np.concatenate(list(stream_audio(path, rate_hz=rate, channels=2, block_frames=rate)))
    speaking = np.zeros(len(audio), dtype=bool)
    for segment in manifest["segments"]:
        line = segment["targets"][target]
        start, end = (
            (line["dubbed_start_ms"], line["dubbed_end_ms"])
            if line["is_dubbed"]
            else (segment["start_ms"], segment["end_ms"])
        )
        first = max(0, (start - _DIALOGUE_EDGE_MS) * rate // 1000)
        speaking[first : (end + _DIALOGUE_EDGE_MS) * rate // 1000] = True
    return float(pyloudnorm.Meter(rate).integrated_loudness(audio[speaking]))


def transcribe_file(path: Path, language: str, engines: DubEngines) -> str:
    audio = decode_audio(path, rate_hz=16_000)
    speech = detect_speech(audio, vad=engines.vad)
    transcript = transcribe_speech(
        audio, speech, stt=engines.stt, language=language, multilingual=False
    )
    return transcript.text


def check_outputs(
    manifest: dict[str, Any],
    out: Path,
    targets: Sequence[str],
    *,
    has_video: bool,
    target_lufs: float = -23.0,
) -> None:
    assert manifest["schema"] == "globalvoice.manifest/5"
    kinds = {(a["language"], a["kind"]) for a in manifest["artifacts"]}
    source = manifest["source_language"]
    assert {(source, "subtitles_srt"), (source, "subtitles_vtt")} <= kinds
    assert [kind for _, kind in kinds].count("transcript") == 1
    if manifest["sound"]["mix"] == "separated":  # the M&E track and the source's dialogue
        assert {("all", "background"), (source, "dialogue")} <= kinds
    for target in targets:
        expected = {"audio", "subtitles_srt", "subtitles_vtt", "translation"}
        expected |= {"video"} if has_video else set()
        # the transcript and the separated dialogue are filed under the source language, which
        # a target may equal
        source_files = {"speech_stem", "transcript", "dialogue"}
        assert {kind for lang, kind in kinds if lang == target} - source_files == expected
        for artifact in manifest["artifacts"]:
            assert (out / artifact["path"]).stat().st_size > 0
        audio = next(
            out / a["path"]
            for a in manifest["artifacts"]
            if a["language"] == target and a["kind"] == "audio"
        )
        assert abs(dialogue_loudness_of(audio, manifest, target) - target_lufs) <= 0.5
        assert manifest["summary"][target]["true_peak_dbtp"] <= -1.0 + 0.2
        if has_video:
            video = out / next(
                a["path"]
                for a in manifest["artifacts"]
                if a["language"] == target and a["kind"] == "video"
            )
            info = probe_media(video)
            assert (info.video_codec, info.audio_codec) == ("h264", "aac")
            assert abs(info.duration_ms - manifest["input"]["duration_ms"]) < 500
    for segment in manifest["segments"]:
        assert {"id", "start_ms", "end_ms", "source_text", "targets"} <= segment.keys()
        for entry in segment["targets"].values():
            assert {"text", "dubbed_start_ms", "dubbed_end_ms", "tempo", "fits"} <= entry.keys()
            if entry["tempo"] is not None:  # dubbed: its fitting chain, as used
                assert entry["fit"]["flagged"] is not entry["fits"]
                assert entry["fit"]["borrowed_ms"] <= 1500
    for target in targets:
        chain = manifest["summary"][target]["fit"]
        assert sum(chain["final_steps"].values()) == manifest["summary"][target]["dubbed"]
    assert {"transcribe", "translate", "synthesize_fit", "mix"} <= {
        s["stage"] for s in manifest["stages"]
    }


def test_cli_dubs_jfk_video_to_es_and_pt(media: Path, tmp_path: Path) -> None:
    video = video_from_audio(media / "speech" / "jfk.flac", tmp_path / "jfk.mp4")
    out = tmp_path / "out"
    glossary = tmp_path / "terms.csv"  # "country" is "país" in both languages without it
    glossary.write_text("term,translation,target_language\ncountry,nación,es\n", encoding="utf-8")
    result = run_cli(
        "dub", str(video), "--to", "es,pt", "--out", str(out), "--glossary", str(glossary),
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(out)
    check_outputs(manifest, out, ["es", "pt"], has_video=True)
    assert manifest["source_language"] == "en"
    assert manifest["speakers"][0]["is_female"] is False
    spanish = " ".join(s["targets"]["es"]["text"] for s in manifest["segments"])
    portuguese = " ".join(s["targets"]["pt"]["text"] for s in manifest["segments"])
    assert "nación" in spanish and "país" not in spanish, spanish  # the glossary's term
    assert "país" in portuguese, portuguese  # an es-only entry
    assert "Dubbed jfk.mp4" in result.stdout + result.stderr
    assert not list(out.glob(".globalvoice-work-*"))


def test_cli_console_has_no_library_chatter(lj_minute: Path, tmp_path: Path) -> None:
    """Kokoro's phonemizer warns on every Portuguese line whose word count changes; the CLI's
    console shows progress and the summary only (2 such warnings on this input before)."""
    result = run_cli(
        "dub", str(lj_minute), "--to", "pt", "--out", str(tmp_path / "out"), "--no-cache",
        "--no-library", timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr


def test_grid_clip_is_dubbed_and_reencoded_to_h264(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    out = tmp_path / "out"
    manifest = dub(media / "video" / "grid" / "bbaf2n.mpg", ["es", "pt"], out, engines, settings)
    check_outputs(manifest, out, ["es", "pt"], has_video=True)
    assert manifest["segments"], "GRID sentence not transcribed"


def test_spanish_fleurs_to_pt_and_en(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    clips = sorted((media / "speech" / "fleurs").glob("fleurs-es-00*.ogg"))
    audio = concat_audio(clips, tmp_path / "fleurs_es.wav", gap_s=0.8)
    out = tmp_path / "out"
    manifest = dub(audio, ["pt", "en", "es"], out, engines, settings)
    check_outputs(manifest, out, ["pt", "en", "es"], has_video=False)
    assert manifest["source_language"] == "es"
    es_entries = [s["targets"]["es"] for s in manifest["segments"]]
    assert all(not e["is_dubbed"] for e in es_entries)  # already Spanish: original kept
    assert all(s["targets"]["pt"]["is_dubbed"] for s in manifest["segments"])


def _reference(media: Path, names: Sequence[str]) -> str:
    lines = (media / "speech" / "ljspeech" / "transcripts.txt").read_text().splitlines()
    table = dict(line.split("|", 1) for line in lines)
    return " ".join(table[name] for name in names)


@pytest.mark.parametrize("language", ["en", "es"])
def test_pipeline_transcription_loses_no_words(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings, language: str
) -> None:
    """WER of the pipeline's transcript within 1 point of plain faster-whisper on the same files."""
    from faster_whisper import WhisperModel

    from globalvoice.engines.stt.faster_whisper import shipped_whisper_base

    plain = WhisperModel(
        str(shipped_whisper_base(settings.cache_dir)), device="cpu", compute_type="int8"
    )
    cases: list[tuple[Path, str]] = []
    for clip in sorted((media / "speech" / "fleurs").glob(f"fleurs-{language}-00*.ogg")):
        cases.append((clip, clip.with_suffix(".txt").read_text().strip()))
    if language == "en":
        cases.append(
            (
                media / "speech" / "jfk.flac",
                "And so my fellow Americans, ask not what "
                "your country can do for you, ask what you can do for your country.",
            )
        )
        for wav in sorted((media / "speech" / "ljspeech").glob("LJ001-000[1-5].wav")):
            cases.append((wav, _reference(media, [wav.name])))
    pipeline_refs, pipeline_hyps, plain_hyps = [], [], []
    for path, reference in cases:
        segments, _ = plain.transcribe(str(path), beam_size=5, language=language)
        plain_hyps.append(" ".join(s.text for s in segments))
        pipeline_hyps.append(transcribe_file(path, language, engines))
        pipeline_refs.append(reference)
    reference_text = " ".join(pipeline_refs)
    plain_wer = wer(reference_text, " ".join(plain_hyps))
    pipeline_wer = wer(reference_text, " ".join(pipeline_hyps))
    report(f"WER {language}: faster-whisper {plain_wer:.3f}, pipeline {pipeline_wer:.3f}")
    assert pipeline_wer <= plain_wer + 0.01


def test_minute_of_english_timing_loudness_and_intelligibility(
    lj_minute: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    out = tmp_path / "out"
    # the product defaults: each speaker's voice matched (the suite turns it off elsewhere)
    product = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"voice_matching": True})}
    )
    manifest = dub(lj_minute, ["es", "pt"], out, engines, product)
    check_outputs(manifest, out, ["es", "pt"], has_video=True)
    assert manifest["speakers"][0]["voice_profile"] is not None
    assert manifest["input"]["duration_ms"] >= 60_000
    segments = manifest["segments"]
    assert len(segments) >= 8
    for target in ("es", "pt"):
        entries = [s["targets"][target] for s in segments]
        assert all(e["is_dubbed"] for e in entries), "a line was dropped"
        fits = [e["fits"] and e["tempo"] <= 1.3 for e in entries]
        assert sum(fits) / len(fits) >= 0.95, f"{target}: {sum(fits)}/{len(fits)} fit"
        for segment, entry in zip(segments, entries, strict=True):
            assert abs(entry["dubbed_start_ms"] - segment["start_ms"]) <= 50
            assert entry["tempo"] <= 1.3 + 1e-3
        translated = " ".join(e["text"] for e in entries)
        heard = transcribe_file(out / f"lj_minute.{target}.speech.flac", target, engines)
        score = wer(translated, heard)
        tempos = [e["tempo"] for e in entries]
        report(
            f"{target}: dubbed speech WER {score:.3f}, tempos {tempos}"
            f"\nREF {translated}\nHYP {heard}"
        )
        assert score <= MAX_DUBBED_WER[target]


def test_unchanged_input_is_not_recomputed(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    counting_tts = CountingTts(engines.tts)
    calls = counting_tts.texts
    counting = DubEngines(vad=engines.vad, stt=engines.stt, mt=engines.mt, tts=counting_tts)
    cache = ArtifactCache.local(tmp_path / "cache")
    first = dub(media / "speech" / "jfk.flac", ["es"], tmp_path / "a", counting, settings, cache)
    assert calls, "first run synthesized nothing"
    calls.clear()
    hits_before = cache.hits
    second = dub(media / "speech" / "jfk.flac", ["es"], tmp_path / "b", counting, settings, cache)
    assert calls == []
    assert cache.hits > hits_before
    assert second["segments"] == first["segments"]
    # an audio file has no picture to redraw: said so, never an error
    picture = second["lipsync"]["es"]
    assert (picture["redrawn"], picture["reason"], picture["report"]) == (
        False,
        "no video stream",
        None,
    )
