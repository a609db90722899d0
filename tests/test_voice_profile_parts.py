"""Voice profiles, part by part: the serialisable type, reference spans, WORLD DSP matching and
Kokoro blends (real media and the real TTS; no mocks)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter

from globalvoice.config.settings import Settings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ModelNotAvailable
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization, OverlapRegion, SpeakerTurn
from globalvoice.domain.voices import DspMatch, VoiceBlend, VoiceProfile, parse_voice_spec
from globalvoice.engines import registry
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.pcm import decode_audio, resample
from globalvoice.media.voice_dsp import analyse, apply_match, fit_match, resynthesize, voice_stats
from globalvoice.pipeline.voices import bank as voice_bank
from globalvoice.pipeline.voices.bank import VoiceBank
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.pipeline.voices.references import ReferencePolicy, reference_spans
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.cache import ArtifactCache
from tests.conftest import CountingTts

FLAT = DspMatch(
    voice_f0_hz=200.0,
    speaker_f0_hz=200.0,
    f0_range=1.0,
    formant_warp=1.0,
    eq_step_hz=250,
    eq_db=(0.0,) * 29,
)


def profile(**changes: object) -> VoiceProfile:
    fields: dict[str, object] = {
        "speaker_id": "S1",
        "reference_spans_ms": ((0, 4000), (5000, 9000)),
        "embedding": tuple(float(x) for x in np.linspace(-0.1, 0.1, 256)),
        "voice": VoiceBlend.of({"jm_kumo": 0.25, "jf_alpha": 0.75}),
        "dsp": FLAT,
        "similarity": 0.61,
        "embedder": "speaker.voicefilter:x",
        "tts": "tts.kokoro:y",
    }
    return VoiceProfile(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("weights", "spec"),
    [
        ({"jm_kumo": 1.0}, "jm_kumo"),
        ({"jm_kumo": 1, "jf_alpha": 1}, "jf_alpha*0.500+jm_kumo*0.500"),
        ({"b": 1, "a": 2, "c": 0}, "a*0.667+b*0.333"),
        ({"a": 1, "b": 1, "c": 1}, "a*0.334+b*0.333+c*0.333"),
    ],
)
def test_blend_spelling_is_canonical(weights: dict[str, float], spec: str) -> None:
    blend = VoiceBlend.of(weights)
    assert blend.spec == spec
    assert abs(sum(w for _, w in blend.weights) - 1) < 1e-9
    assert parse_voice_spec(spec) == blend


def test_profile_round_trips_json_and_the_stage_codec() -> None:
    original = profile()
    document = json.loads(json.dumps(original.to_dict(), allow_nan=False))
    assert VoiceProfile.from_dict(document) == original
    assert document["voice"]["spec"] == "jf_alpha*0.750+jm_kumo*0.250"
    summary = original.summary()
    assert "embedding" not in summary and summary["fingerprint"] == original.fingerprint
    cast = SpeakerVoice(
        speaker_id="S1",
        median_f0_hz=120.0,
        formant_dispersion_hz=950.0,
        is_female=False,
        voice="jm_kumo",
        profile=original,
    )
    adapter = TypeAdapter(SpeakerVoice)
    back = adapter.validate_json(adapter.dump_json(cast))
    assert back == cast and back.synthesis_voice == original.voice.spec
    assert back.fingerprint == original.fingerprint
    plain = SpeakerVoice(**{**adapter.dump_python(cast), "profile": None})
    assert (plain.synthesis_voice, plain.dsp, plain.fingerprint) == ("jm_kumo", None, None)


def test_fingerprint_follows_what_the_lines_depend_on() -> None:
    base = profile()
    assert profile(embedding=(1.0,), similarity=0.2).fingerprint == base.fingerprint
    assert profile(reference_spans_ms=((0, 1),)).fingerprint == base.fingerprint
    assert profile(voice=VoiceBlend.single("jm_kumo")).fingerprint != base.fingerprint
    assert profile(dsp=dataclasses.replace(FLAT, formant_warp=1.1)).fingerprint != base.fingerprint
    assert profile(dsp=None).fingerprint != base.fingerprint


def _line(index: int, start: int, end: int, speaker: str) -> Line:
    return Line(
        id=f"L{index}", start_ms=start, end_ms=end, text="x", language="en", speaker_id=speaker
    )


def test_reference_spans_avoid_changes_overlaps_and_quiet_speech() -> None:
    rate = 16_000
    samples = np.zeros(30 * rate, dtype=np.float32)
    tone = 0.1 * np.sin(np.arange(30 * rate) * 2 * np.pi * 150 / rate).astype(np.float32)
    samples[:] = tone
    samples[20 * rate : 22 * rate] *= 0.01  # S1's last turn is 40 dB down
    audio = Pcm(samples=samples, rate_hz=rate)
    turns = (
        SpeakerTurn(speaker_id="S1", start_ms=0, end_ms=8000),
        SpeakerTurn(speaker_id="S2", start_ms=8200, end_ms=12000),
        SpeakerTurn(speaker_id="S1", start_ms=12500, end_ms=18000),
        SpeakerTurn(speaker_id="S1", start_ms=20000, end_ms=22000),
    )
    overlap = OverlapRegion(start_ms=14000, end_ms=15000, speaker_ids=("S1", "S2"))
    diarization = Diarization(turns=turns, overlaps=(overlap,), estimated_count=2)
    spans = reference_spans(audio, "S1", lines=(), diarization=diarization)
    # 300 ms off each side of a change, the overlap cut out, the quiet turn skipped.
    assert spans == ((0, 7700), (12800, 14000), (15000, 18000))
    short = ReferencePolicy(max_total_ms=9000)
    assert reference_spans(audio, "S1", lines=(), diarization=diarization, policy=short) == (
        (0, 7700),
        (15000, 18000),
    )
    lines = (_line(0, 100, 1500, "S1"), _line(1, 1600, 3000, "S2"))
    assert reference_spans(audio, "S2", lines=lines, diarization=None) == ((1900, 3000),)


@pytest.fixture(scope="module")
def tts() -> Synthesizer:
    return registry.build_tts(Settings())


def _f0_median(pcm: Pcm) -> float:
    import pyworld

    x = pcm.samples.astype(np.float64)
    f0, _ = pyworld.harvest(x, pcm.rate_hz, f0_floor=60, f0_ceil=500, frame_period=5.0)
    return float(np.median(f0[f0 > 0]))


def test_dsp_keeps_length_and_level_and_moves_pitch(media: Path) -> None:
    speaker = decode_audio(
        media / "speech" / "librispeech" / "2414-128291-0001.flac", rate_hz=16_000
    )
    voice = resample(
        decode_audio(media / "speech" / "librispeech" / "1998-15444-0001.flac", rate_hz=16_000),
        24_000,
    )
    match = fit_match(voice_stats(speaker), voice_stats(voice))
    assert match.speaker_f0_hz < 140 < 170 < match.voice_f0_hz  # a man's pitch, a woman's
    out = apply_match(voice, match)
    assert len(out.samples) == len(voice.samples) and out.rate_hz == 24_000
    rms = [float(np.sqrt(np.mean(p.samples.astype(np.float64) ** 2))) for p in (voice, out)]
    assert abs(rms[1] / rms[0] - 1) < 0.01
    assert abs(_f0_median(out) / match.speaker_f0_hz - 1) < 0.1
    assert VoiceProfile.from_dict(profile(dsp=match).to_dict()).dsp == match
    # analysed once, re-synthesized under any match: the same audio as a fresh analysis
    analysis = analyse(voice)
    assert analysis is not None
    again = resynthesize(analysis, match)
    assert np.array_equal(again.samples, out.samples) and again.rate_hz == out.rate_hz
    assert analyse(Pcm(samples=np.zeros(100, dtype=np.float32), rate_hz=24_000)) is None


def test_voice_bank_keeps_shipped_takes_in_its_store_not_blends(
    tts: Synthesizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process (no per-process takes) with the same durable store reads a shipped
    voice's take and stats back without synthesizing; a blend stays out of the store."""
    monkeypatch.setattr(voice_bank, "_SHARED_TAKES", {})
    store = ArtifactCache(LocalBlobStore(tmp_path), prefix="voice-bank/")
    shipped, blend = VoiceBlend.single("jm_kumo"), VoiceBlend.of({"jm_kumo": 1, "jf_alpha": 1})
    first = CountingTts(tts)
    bank = VoiceBank(first, None, store)
    take, stats = bank.take(shipped)
    bank.take(blend)
    assert len(first.texts) == 2 * len(voice_bank.REFERENCE_TEXTS)
    assert len(list((tmp_path / "voice-bank").rglob("*.npz"))) == 1  # the shipped voice only
    monkeypatch.setattr(voice_bank, "_SHARED_TAKES", {})
    second = CountingTts(tts)
    again, again_stats = VoiceBank(second, None, store).take(shipped)
    assert second.texts == [] and again_stats == stats
    assert np.array_equal(again.samples, take.samples)


def test_kokoro_speaks_blends(tts: Synthesizer) -> None:
    assert set(tts.voices()) >= {"jf_alpha", "jm_kumo"}
    blend = VoiceBlend.of({"jf_alpha": 0.5, "jm_kumo": 0.5}).spec
    text = "Hola, ¿cómo estás hoy?"
    takes = {
        v: tts.synthesize(text, voice=v, language="es") for v in ("jf_alpha", "jm_kumo", blend)
    }
    pitch = {v: _f0_median(take) for v, take in takes.items()}
    assert pitch["jm_kumo"] < pitch[blend] < pitch["jf_alpha"]
    estimate = tts.estimate_ms(text, voice=blend, language="es")
    assert abs(estimate - takes[blend].duration_ms) < 200
    with pytest.raises(ModelNotAvailable):
        tts.synthesize(text, voice="jf_alpha*0.5+xx_nobody*0.5", language="es")
