"""Diarization with the shipped d-vector model on real speech, scored by DER (0.25 s collar).

Multi-speaker inputs are built here from shared/media/speech/librispeech: whole utterances in
alternating turns, 0.4 s apart, so who speaks when is known. The reference speech of each turn
is the Silero VAD run on that utterance alone, labelled with its reader: DER then measures
speaker attribution plus VAD drift in the mixture (see pipeline/der.py for the method).
Figures are printed for the closing note (pytest -s).
"""

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from globalvoice.config.settings import Settings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.speakers import Diarization
from globalvoice.engines import registry
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.vad.protocol import VoiceActivityDetector
from globalvoice.media.pcm import decode_audio
from globalvoice.pipeline.analyse.diarize import diarize
from tests.conftest import concat_audio
from tests.der import DerScore, Segment, der

pytestmark = pytest.mark.slow
report = print
GAP_S = 0.4
MAX_DER = 0.10

# 2: the two most alike voices in the set (both male); 3 and 4 mix sexes.
MIXTURES = {2: ("2033", "2414"), 3: ("1688", "1998", "3331"), 4: ("1688", "2033", "2414", "3331")}
TURNS = {2: 6, 3: 6, 4: 8}  # whole utterances, speakers in rotation


@pytest.fixture(scope="module")
def embedder() -> SpeakerEmbedder:
    return registry.build_speaker(Settings())


@pytest.fixture(scope="module")
def vad() -> VoiceActivityDetector:
    return registry.build_vad(Settings())


def utterances(media: Path, speaker: str) -> list[Path]:
    return sorted((media / "speech" / "librispeech").glob(f"{speaker}-*.flac"))


def build_mixture(
    media: Path, speakers: Sequence[str], out: Path, vad: VoiceActivityDetector
) -> tuple[Path, list[Segment]]:
    """Alternating turns of whole utterances and the reference (start_ms, end_ms, reader)."""
    parts: list[Path] = []
    reference: list[Segment] = []
    offset = 0  # samples at 16 kHz
    for turn in range(TURNS[len(speakers)]):
        speaker = speakers[turn % len(speakers)]
        part = utterances(media, speaker)[turn // len(speakers)]
        parts.append(part)
        clip = decode_audio(part, rate_hz=16_000)
        start = offset * 1000 // 16_000
        reference += [(start + s.start_ms, start + s.end_ms, speaker) for s in vad.detect(clip)]
        offset += len(clip.samples) + round(GAP_S * 16_000)
    wav = concat_audio(parts, out, gap_s=GAP_S)
    assert abs(sf.info(str(wav)).frames - offset) <= 16  # the reference times hold
    return wav, reference


def run(
    path: Path | Pcm,
    vad: VoiceActivityDetector,
    embedder: SpeakerEmbedder,
    speakers: int | None = None,
) -> tuple[Diarization, float]:
    audio = path if isinstance(path, Pcm) else decode_audio(path, rate_hz=16_000)
    speech = vad.detect(audio)
    started = time.perf_counter()
    result = diarize(audio, speech, embedder=embedder, speakers=speakers)
    return result, time.perf_counter() - started


def hypothesis(result: Diarization) -> list[Segment]:
    """Turns, plus the second speaker of each overlap region."""
    segments = [(t.start_ms, t.end_ms, t.speaker_id) for t in result.turns]
    for region in result.overlaps:
        main = result.speaker_at(region.start_ms, region.end_ms)
        segments += [(region.start_ms, region.end_ms, s) for s in region.speaker_ids if s != main]
    return segments


def describe(name: str, result: Diarization, score: DerScore | None, seconds: float) -> None:
    figures = (
        f"DER {score.der:.3f} (missed {score.missed:.3f}, false alarm {score.false_alarm:.3f}, "
        f"confusion {score.confusion:.3f})"
        if score
        else "no reference"
    )
    report(
        f"diarization {name}: {result.estimated_count} speakers, {figures}, "
        f"{len(result.overlaps)} overlaps, {seconds:.2f} s"
    )


@pytest.mark.parametrize("count", sorted(MIXTURES))
def test_librispeech_mixture_count_and_der(
    count: int,
    media: Path,
    tmp_path: Path,
    vad: VoiceActivityDetector,
    embedder: SpeakerEmbedder,
) -> None:
    wav, reference = build_mixture(media, MIXTURES[count], tmp_path / "mix.wav", vad)
    audio = decode_audio(wav, rate_hz=16_000)
    estimated, seconds = run(audio, vad, embedder)
    score = der(reference, hypothesis(estimated))
    describe(
        f"librispeech {count} speakers ({audio.duration_ms / 1000:.0f} s)",
        estimated,
        score,
        seconds,
    )
    assert estimated.estimated_count == count
    assert score.der <= MAX_DER
    assert estimated.overlaps == ()  # nobody talks over anybody here
    given, seconds = run(audio, vad, embedder, speakers=count)
    given_score = der(reference, hypothesis(given))
    describe(f"librispeech {count} speakers, count given", given, given_score, seconds)
    assert given.requested_count == count and given_score.der <= MAX_DER


def test_single_speakers_stay_one(
    media: Path, tmp_path: Path, vad: VoiceActivityDetector, embedder: SpeakerEmbedder
) -> None:
    speech = media / "speech"
    inputs = {
        "jfk": speech / "jfk.flac",
        "ljspeech": concat_audio(
            sorted((speech / "ljspeech").glob("LJ001-00*.wav")), tmp_path / "lj.wav"
        ),
    }
    for reader in ("1688", "1998", "2033", "2414", "3331"):
        inputs[f"librispeech {reader}"] = concat_audio(
            utterances(media, reader), tmp_path / f"{reader}.wav"
        )
    for name, path in inputs.items():
        result, seconds = run(path, vad, embedder)
        describe(f"{name} (one reader)", result, None, seconds)
        assert result.speaker_ids == ("S1",), name
        assert result.overlaps == ()


def test_dialogue_katie_and_steve(
    media: Path, vad: VoiceActivityDetector, embedder: SpeakerEmbedder
) -> None:
    # Turn times from azure_katiesteve.txt (a machine transcript; turns inferred from the script).
    reference = [
        (0, 1_840, "katie"), (1_840, 3_760, "steve"), (3_760, 12_320, "katie"),
        (12_320, 23_680, "steve"), (24_640, 25_440, "katie"), (26_400, 28_480, "steve"),
    ]  # fmt: skip
    result, seconds = run(media / "speech" / "dialogue" / "azure_katiesteve.wav", vad, embedder)
    score = der(reference, hypothesis(result))
    describe("azure_katiesteve", result, score, seconds)
    assert result.estimated_count == 2
    assert score.confusion <= 0.02 and score.der <= 0.15  # the rest: pauses inside the turns


def test_faster_whisper_stereo_file_mixed_to_mono(
    media: Path, vad: VoiceActivityDetector, embedder: SpeakerEmbedder
) -> None:
    """One speaker per channel; the reference is the VAD of each channel. The channels overlap
    for most of the file, which a mono d-vector diarizer largely cannot separate: reported."""
    stereo, rate = sf.read(str(media / "speech" / "fw_stereo_diarization.wav"), dtype="float32")
    assert rate == 16_000
    reference: list[Segment] = []
    for channel in range(stereo.shape[1]):
        alone = Pcm(samples=np.ascontiguousarray(stereo[:, channel]), rate_hz=rate)
        reference += [(s.start_ms, s.end_ms, f"channel{channel}") for s in vad.detect(alone)]
    mono = Pcm(samples=stereo.mean(axis=1).astype(np.float32), rate_hz=rate)
    for speakers in (None, 2):
        result, seconds = run(mono, vad, embedder, speakers=speakers)
        score = der(reference, hypothesis(result))
        describe(
            f"fw_stereo_diarization (mono mix, count {speakers or 'estimated'})",
            result,
            score,
            seconds,
        )
        assert result.turns and score.confusion <= 0.05


def test_overlapping_speech_is_reported(
    media: Path, vad: VoiceActivityDetector, embedder: SpeakerEmbedder
) -> None:
    """Every pair of readers, four turns each way; each second turn starts 3 s before the one
    before it ends. Overlap time found is scored against the truth (10 ms grid)."""
    from itertools import combinations

    readers = sorted(MIXTURES[2] + MIXTURES[3])
    clips = {
        r: [decode_audio(p, rate_hz=16_000).samples for p in utterances(media, r)] for r in readers
    }
    hits = false = missed = found_in = 0
    for first, second in combinations(readers, 2):
        mix, truth = np.zeros(0, dtype=np.float32), []
        for turn in range(4):
            clip = clips[(first, second)[turn % 2]][turn // 2 + 1]
            start = max(len(mix) - 3 * 16_000, 0) if turn % 2 else len(mix)
            if turn % 2:
                truth.append((start * 1000 // 16_000, len(mix) * 1000 // 16_000))
            mix = np.concatenate([mix, np.zeros(max(start + len(clip) - len(mix), 0), np.float32)])
            mix[start : start + len(clip)] += clip
            mix = np.concatenate([mix, np.zeros(round(GAP_S * 16_000), np.float32)])
        result, _ = run(Pcm(samples=mix, rate_hz=16_000), vad, embedder)
        true_grid = np.zeros(len(mix) // 160 + 1, dtype=bool)
        found_grid = np.zeros_like(true_grid)
        for start_ms, end_ms in truth:
            true_grid[start_ms // 10 : end_ms // 10] = True
        for region in result.overlaps:
            found_grid[region.start_ms // 10 : region.end_ms // 10] = True
        hits += int((true_grid & found_grid).sum())
        false += int((found_grid & ~true_grid).sum())
        missed += int((true_grid & ~found_grid).sum())
        found_in += bool(result.overlaps)
    precision, recall = hits / max(hits + false, 1), hits / max(hits + missed, 1)
    report(
        f"overlap detection on 10 two-reader mixtures (3 s overlaps): precision {precision:.2f}, "
        f"recall {recall:.2f}, found in {found_in}/10"
    )
    assert precision >= 0.7 and found_in >= 3


def test_windows_levelled_a_block_at_a_time_embed_as_from_one_levelled_copy(
    media: Path, embedder: SpeakerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Diarization levels the audio a block of windows at a time (memory flat with length):
    the embeddings are those of the whole input levelled at once."""
    from globalvoice.media.pcm import levelled, rms
    from globalvoice.pipeline.analyse import diarize as diarize_module

    audio = decode_audio(media / "speech" / "dialogue" / "azure_katiesteve.wav", rate_hz=16_000)
    speech = registry.build_vad(Settings()).detect(audio)
    native = diarize_module._native_windows(
        speech, embedder.window_ms, diarize_module.DiarizePolicy()
    )
    level = rms([audio.slice_ms(s.start_ms, s.end_ms).samples for s in speech])
    whole = Pcm(samples=levelled(audio.samples, level=level, target_dbfs=-20.0), rate_hz=16_000)
    expected = embedder.embed_spans(whole, native)
    assert len(native) > 64
    for block in (320, 64):  # whole batches of the embedder: the same batches as at once
        monkeypatch.setattr(diarize_module, "_LEVEL_BLOCK_WINDOWS", block)
        found = diarize_module._embed_levelled(audio, speech, native, embedder)
        np.testing.assert_allclose(found, expected, atol=1e-6)
