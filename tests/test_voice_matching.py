"""Voice profiles on real speech with the real engines: built once per speaker and cached, and a
two-speaker dub whose voices sound more like each speaker than the fixed voices do.

The similarity is judged by resemblyzer's GE2E encoder (not the d-vector that chose the voice),
on held-out utterances; it needs the `judge` extra (`.venv/bin/pip install -e ".[judge]"`: the
CPU torch 2.13.0 and resemblyzer 0.1.4, not product dependencies; scripts/install.sh leaves it
out) and is skipped without it. benchmarks/bench_voices.py measures all five readers.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from globalvoice.config.settings import Settings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization, SpeakerTurn
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.local import LocalDub, run_local
from globalvoice.dubbing.steps import StepRun
from globalvoice.media.pcm import decode_audio
from globalvoice.pipeline.analyse.transcribe import detect_speech, transcribe_speech
from globalvoice.pipeline.voices.profiles import ProfileTools, build_profiles
from globalvoice.storage.cache import ArtifactCache
from tests.conftest import CountingTts, concat_audio, video_from_audio
from tests.manifests import manifest_data
from tests.quality import wer
from tests.voiceprints import librispeech

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("voice_matching_on")]
report = print
READERS = ("1998", "2414")  # a woman, a man
MIN_GAIN = 0.03  # loose: the benchmark measures ~0.1 over five readers
MAX_WER_LOSS = 0.08  # loose: the benchmark measures the 3-point goal


def two_readers(media: Path) -> tuple[Pcm, Diarization]:
    """Utterances 0 and 1 of each reader in turn, 0.4 s apart, with their known turns."""
    gap = np.zeros(6400, dtype=np.float32)
    pieces, turns, offset = [], [], 0
    for index in range(4):
        reader = READERS[index % 2]
        clip = decode_audio(librispeech(media, reader)[index // 2], rate_hz=16_000)
        start = offset * 1000 // 16_000
        speaker = f"S{index % 2 + 1}"
        turns.append(
            SpeakerTurn(speaker_id=speaker, start_ms=start, end_ms=start + clip.duration_ms)
        )
        pieces += [clip.samples, gap]
        offset += len(clip.samples) + len(gap)
    audio = Pcm(samples=np.concatenate(pieces), rate_hz=16_000)
    return audio, Diarization(turns=tuple(turns), estimated_count=2)


def test_profiles_are_built_once_per_speaker_and_cached(
    media: Path, tmp_path: Path, engines: DubEngines
) -> None:
    audio, diarization = two_readers(media)
    lines = tuple(
        Line(id=f"L{i}", start_ms=t.start_ms, end_ms=t.end_ms, text="x", language="en",
             speaker_id=t.speaker_id)
        for i, t in enumerate(diarization.turns)
    )  # fmt: skip
    assert engines.speaker is not None
    tts = CountingTts(engines.tts)
    cache = ArtifactCache.local(tmp_path / "cache")

    def build() -> dict[str, Any]:
        tools = ProfileTools(tts=tts, embedder=engines.speaker, cache=cache)
        return build_profiles(audio, lines, diarization, input_digest="two-readers", tools=tools)

    profiles = build()
    assert set(profiles) == {"S1", "S2"} and tts.texts
    for speaker, profile in profiles.items():
        own = diarization.turns_of(speaker)
        assert profile.reference_ms >= 10_000
        for start, end in profile.reference_spans_ms:
            assert any(t.start_ms <= start < end <= t.end_ms for t in own)
        assert len(profile.embedding) == engines.speaker.dim
        assert profile.similarity > 0.4
        assert profile.dsp is not None
        report(f"{speaker}: {profile.voice.spec} similarity {profile.similarity} {profile.dsp}")
    assert profiles["S1"].dsp.speaker_f0_hz > 170 > 140 > profiles["S2"].dsp.speaker_f0_hz  # type: ignore[union-attr]
    assert profiles["S1"].fingerprint != profiles["S2"].fingerprint
    tts.texts.clear()
    assert build() == profiles and tts.texts == []


def _judge() -> Any:
    pytest.importorskip("resemblyzer", reason='.venv/bin/pip install -e ".[judge]"')
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(samples: np.ndarray, rate: int) -> np.ndarray:  # type: ignore[type-arg]
        vector = encoder.embed_utterance(preprocess_wav(samples, rate))
        return vector / np.linalg.norm(vector)

    return embed


def _dubbed(manifest: dict[str, Any], speaker: str | None = None) -> list[tuple[int, int, str]]:
    """(start_ms, end_ms, text) of the dubbed lines (of one speaker)."""
    return [
        (t["dubbed_start_ms"], t["dubbed_end_ms"], t["text"])
        for s in manifest["segments"]
        if (t := s["targets"]["es"])["dubbed_start_ms"] is not None
        and speaker in (None, s["speaker"])
    ]


def _heard(stem: Pcm, engines: DubEngines, lines: list[tuple[int, int, str]]) -> str:
    """Each dubbed line transcribed on its own: Whisper's long-form decoding sometimes stops
    early on a whole track (measured: a correct 7 s tail dropped), which says nothing about the
    voice."""
    heard = []
    for start, end, _ in lines:
        part = stem.slice_ms(start, end)
        speech = detect_speech(part, vad=engines.vad)
        heard.append(
            transcribe_speech(part, speech, stt=engines.stt, language="es", multilingual=False).text
        )
    return " ".join(heard)


def test_matched_voices_sound_like_each_speaker(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    judge = _judge()
    parts = [librispeech(media, READERS[i % 2])[i // 2] for i in range(8)]
    video = video_from_audio(concat_audio(parts, tmp_path / "two.wav"), tmp_path / "two.mp4")
    cache = ArtifactCache.local(tmp_path / "cache")
    held = {}
    for index, reader in enumerate(READERS):
        clips = [decode_audio(f, rate_hz=16_000).samples for f in librispeech(media, reader)[5:]]
        held[f"S{index + 1}"] = judge(np.concatenate(clips), 16_000)
    figures: dict[str, dict[str, float]] = {}
    for matching in (False, True):
        out = tmp_path / ("matched" if matching else "baseline")
        pipeline = settings.pipeline.model_copy(update={"voice_matching": matching, "speakers": 2})
        request = LocalDub(input_path=video, targets=("es",), out_dir=out, source="en")
        manifest = manifest_data(
            run_local(request, engines, StepRun(settings=pipeline, cache=cache)).manifest
        )
        speakers = {s["speaker_id"]: s for s in manifest["speakers"]}
        assert set(speakers) == {"S1", "S2"}
        for entry in speakers.values():
            assert entry["lines"] and entry["turns"]
            profile = entry["voice_profile"]
            assert (profile is not None) is matching
            if profile is not None:
                assert "embedding" not in profile and entry["voice"] == profile["voice"]["spec"]
                assert set(profile["dsp"]) >= {"speaker_f0_hz", "formant_warp", "eq_db"}
        if matching:
            prints = {s["voice_profile"]["fingerprint"] for s in speakers.values()}
            assert len(prints) == 2  # each speaker their own voice
        stem = decode_audio(out / "two.es.speech.flac", rate_hz=16_000)
        lines = _dubbed(manifest)
        name = "matched" if matching else "baseline"
        figures[name] = {"wer": wer(" ".join(t for *_, t in lines), _heard(stem, engines, lines))}
        for sid in ("S1", "S2"):
            own = [stem.slice_ms(a, b).samples for a, b, _ in _dubbed(manifest, sid)]
            figures[name][sid] = float(judge(np.concatenate(own), 16_000) @ held[sid])
    gain = np.mean([figures["matched"][s] - figures["baseline"][s] for s in ("S1", "S2")])
    report(f"voice matching (resemblyzer vs held-out): {figures}, mean gain {gain:.3f}")
    assert gain >= MIN_GAIN
    assert figures["matched"]["wer"] <= figures["baseline"]["wer"] + MAX_WER_LOSS
