"""Silero VAD read a block at a time gives faster-whisper's own spans, on real speech."""

from pathlib import Path

import numpy as np
import pytest

from globalvoice.domain.audio import Pcm
from globalvoice.engines.vad.silero import SileroVad, speech_spans
from globalvoice.media.pcm import decode_audio, levelled, rms

pytest.importorskip("faster_whisper")

CLIPS = [
    "speech/jfk.flac",
    "speech/dialogue/azure_katiesteve.wav",
    "speech/fleurs/fleurs-es-000.ogg",
    "speech/fw_stereo_diarization.wav",
]


def _faster_whisper_spans(audio: Pcm) -> list[tuple[int, int]]:
    """What the engine did before: faster-whisper's whole-input call on the levelled audio."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    samples = levelled(audio.samples, level=rms([audio.samples]), target_dbfs=-20.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    options = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200)
    stamps = get_speech_timestamps(samples, options, sampling_rate=16_000)
    return [(s["start"] * 1000 // 16_000, s["end"] * 1000 // 16_000) for s in stamps]


@pytest.mark.parametrize("clip", CLIPS)
def test_blocks_of_any_size_give_faster_whispers_spans(media: Path, clip: str) -> None:
    audio = decode_audio(media / clip, rate_hz=16_000)
    expected = _faster_whisper_spans(audio)
    assert expected, "the clip has speech"
    for block_windows in (100_000, 1000, 97):  # one block; 32 s and 3 s blocks
        found = SileroVad(block_windows=block_windows).detect(audio)
        assert [(s.start_ms, s.end_ms) for s in found] == expected


def test_silence_and_empty_input_have_no_speech() -> None:
    vad = SileroVad(block_windows=50)
    assert vad.detect(Pcm(samples=np.zeros(16_000 * 5, dtype=np.float32), rate_hz=16_000)) == ()
    assert vad.detect(Pcm(samples=np.zeros(0, dtype=np.float32), rate_hz=16_000)) == ()


def test_span_rules_on_known_probabilities() -> None:
    """Windows of 512 samples: speech from window 2, a one-window dip (kept), a silence from
    window 6 long enough to end the span there, speech again from window 10 to the end. Padded
    by `pad` on each side; where the gap is under 2 x pad the spans meet halfway."""
    p = np.array([0.1, 0.2, 0.9, 0.9, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.8, 0.6], dtype=np.float32)
    length = 12 * 512 - 100
    padded = speech_spans(p, length=length, min_silence=3 * 512, pad=600)
    assert padded == [(1024 - 600, 3072 + 600), (5120 - 600, length)]
    met = speech_spans(p, length=length, min_silence=3 * 512, pad=1200)
    assert met == [(0, 4096), (4096, length)]
    assert speech_spans(p, length=length, min_silence=5 * 512, pad=0) == [(1024, length)]
