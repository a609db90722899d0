"""Long inputs are transcribed in chunks cut between speech spans, so Whisper's whole-input
spectrogram never holds more than a chunk: the pure cutting rule, and real Whisper on the
LJSpeech minute cut in two chunks against the same minute in one piece."""

from pathlib import Path

import numpy as np
import pytest

from globalvoice.dubbing.engines import DubEngines
from globalvoice.engines.stt import faster_whisper
from globalvoice.engines.stt.faster_whisper import _chunks, _Glued
from globalvoice.media.pcm import decode_audio
from globalvoice.pipeline.analyse.transcribe import detect_speech, transcribe_speech
from tests.quality import wer


@pytest.mark.parametrize(
    ("lengths", "limit", "pieces"),
    [
        pytest.param([10, 10, 10], 100, [(0, 30)], id="all-in-one"),
        pytest.param([40, 40, 40], 100, [(0, 80), (80, 120)], id="cut-between-spans"),
        pytest.param([30, 150, 30], 100, [(0, 30), (30, 180), (180, 210)], id="long-span-alone"),
        pytest.param([100, 1], 100, [(0, 100), (100, 101)], id="exactly-the-limit"),
        pytest.param([], 100, [], id="nothing"),
    ],
)
def test_chunks_are_cut_only_where_spans_join(
    lengths: list[int], limit: int, pieces: list[tuple[int, int]]
) -> None:
    assert _chunks(lengths, limit) == pieces
    joins = {sum(lengths[:i]) for i in range(len(lengths) + 1)}
    assert all(start in joins and end in joins for start, end in pieces)


def test_glued_ranges_read_across_spans_without_one_glued_copy() -> None:
    rng = np.random.default_rng(7)
    parts = [rng.standard_normal(n).astype(np.float32) for n in (5, 0, 17, 1, 9)]
    whole = np.concatenate(parts)
    glued = _Glued(parts)
    assert len(glued) == len(whole)
    for start in range(len(whole) + 1):
        for end in (start, start + 1, start + 6, start + 20, len(whole) + 5):
            np.testing.assert_array_equal(glued.range(start, end), whole[start:end])


def test_chunked_transcription_keeps_words_and_times(
    lj_minute: Path, media: Path, engines: DubEngines, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = decode_audio(lj_minute, rate_hz=16_000)
    speech = detect_speech(audio, vad=engines.vad)
    lines = (media / "speech" / "ljspeech" / "transcripts.txt").read_text().splitlines()
    table = dict(line.split("|", 1) for line in lines)
    reference = " ".join(
        table[p.name] for p in sorted((media / "speech" / "ljspeech").glob("LJ001-00*.wav"))
    )

    def transcribe() -> tuple[str, list[int]]:
        found = transcribe_speech(audio, speech, stt=engines.stt, language="en", multilingual=False)
        starts = [w.start_ms for s in found.segments for w in s.words]
        return found.text, starts

    whole, _ = transcribe()
    monkeypatch.setattr(faster_whisper, "_CHUNK_S", 20)
    lengths = [round((s.end_ms - s.start_ms) * 16) for s in speech]
    assert len(_chunks(lengths, 20 * 16_000)) >= 2  # the minute's VAD spans: 53 s and 17 s
    chunked, starts = transcribe()
    assert starts == sorted(starts) and starts[0] >= 0 and starts[-1] < audio.duration_ms
    # numbers spelled out: the chunk's end can change how Whisper writes them ("1455" or
    # "fourteen fifty-five"), which loses no word
    assert wer(reference, chunked, "en") <= wer(reference, whole, "en") + 0.02
