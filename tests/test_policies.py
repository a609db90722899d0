"""Table-driven tests of the pure policies: fitting, segmentation, casting, keys, time maps."""

import pytest

from globalvoice.domain.artifacts import derive_key
from globalvoice.domain.render import FitOutcome
from globalvoice.domain.script import Line
from globalvoice.domain.timeline import TimeMap
from globalvoice.domain.transcript import SpeechSpan, Transcript, TranscriptSegment, Word
from globalvoice.pipeline.analyse.segment import SegmentPolicy, build_lines
from globalvoice.pipeline.render.fit_policy import FitPolicy, available_ms, plan_chain
from globalvoice.pipeline.voices.cast import VoiceTraits, is_female_voice

POLICY = FitPolicy(max_tempo_permille=1300, min_gap_ms=80)


@pytest.mark.parametrize(
    ("natural_ms", "available", "outcome", "take", "target"),
    [
        pytest.param(1000, 2000, FitOutcome.NATURAL, 1000, 1000, id="shorter-kept-natural"),
        pytest.param(2000, 2000, FitOutcome.NATURAL, 2000, 2000, id="exact-fit"),
        pytest.param(2200, 2000, FitOutcome.SPED_UP, 2000, 2000, id="10pct-over-tts-rate"),
        pytest.param(2600, 2000, FitOutcome.SPED_UP, 2261, 2000, id="at-the-cap-stretched"),
        pytest.param(2601, 2000, FitOutcome.FLAGGED, 2262, 2001, id="just-over-cap-flagged"),
        pytest.param(4000, 2000, FitOutcome.FLAGGED, 3479, 3077, id="far-over-keeps-cap"),
    ],
)
def test_plan_chain(
    natural_ms: int, available: int, outcome: FitOutcome, take: int, target: int
) -> None:
    plan = plan_chain(natural_ms=natural_ms, line_ms=available, silence_ms=0, policy=POLICY)
    assert (plan.outcome, plan.take_ms, plan.target_ms) == (outcome, take, target)
    assert natural_ms * 1000 <= plan.target_ms * POLICY.max_tempo_permille + 1000


@pytest.mark.parametrize(
    ("next_start", "media_end", "expected"),
    [
        pytest.param(5000, 60_000, 2500, id="borrows-silence-up-to-the-limit"),
        pytest.param(3000, 60_000, 1920, id="borrows-silence-up-to-next-line-less-gap"),
        pytest.param(2050, 60_000, 1000, id="never-less-than-the-source-line"),
        pytest.param(None, 2400, 1400, id="last-line-may-run-to-media-end"),
    ],
)
def test_available_ms(next_start: int | None, media_end: int, expected: int) -> None:
    line = Line(id="L1", start_ms=1000, end_ms=2000, text="x", language="en")
    assert available_ms(line, next_start, media_end, POLICY) == expected


def _words(*items: tuple[int, int, str]) -> tuple[Word, ...]:
    return tuple(Word(start_ms=s, end_ms=e, text=t) for s, e, t in items)


def test_lines_split_at_sentences_and_pauses_and_keep_every_word() -> None:
    words = _words(
        (0, 300, " Hello"),
        (300, 600, " there."),
        (700, 900, " How"),
        (900, 1200, " are"),
        (2500, 2800, " you"),
        (2800, 3000, " today?"),
    )
    transcript = Transcript(
        language="en",
        language_probability=1.0,
        segments=(TranscriptSegment(start_ms=0, end_ms=3000, text="", language="en", words=words),),
    )
    lines = build_lines(transcript, policy=SegmentPolicy(pause_split_ms=700))
    assert [ln.text for ln in lines] == ["Hello there.", "How are", "you today?"]
    assert [(ln.start_ms, ln.end_ms) for ln in lines] == [(0, 600), (700, 1200), (2500, 3000)]
    assert [ln.id for ln in lines] == ["L0001", "L0002", "L0003"]


def test_long_run_is_cut_at_a_clause_in_its_later_half() -> None:
    words = _words(
        *[(i * 1000, i * 1000 + 900, f" w{i}{',' if i == 7 else ''}") for i in range(15)]
    )
    transcript = Transcript(
        language="en",
        language_probability=1.0,
        segments=(
            TranscriptSegment(start_ms=0, end_ms=15_000, text="", language="en", words=words),
        ),
    )
    lines = build_lines(transcript, policy=SegmentPolicy(max_line_ms=10_000, pause_split_ms=5000))
    assert lines[0].text.endswith("w7,")
    assert all(ln.duration_ms <= 10_000 for ln in lines)
    assert sum(len(ln.text.split()) for ln in lines) == 15


def test_language_switch_starts_a_new_line() -> None:
    transcript = Transcript(
        language="en",
        language_probability=1.0,
        segments=(
            TranscriptSegment(
                start_ms=0, end_ms=500, text="", language="en", words=_words((0, 500, " Hello"))
            ),
            TranscriptSegment(
                start_ms=600, end_ms=900, text="", language="de", words=_words((600, 900, " Hallo"))
            ),
        ),
    )
    lines = build_lines(transcript, policy=SegmentPolicy())
    assert [(ln.text, ln.language) for ln in lines] == [("Hello", "en"), ("Hallo", "de")]


@pytest.mark.parametrize(
    ("f0", "dispersion", "expected"),
    [
        pytest.param(212, 1112, True, id="ljspeech-female-reader"),
        pytest.param(110, 1078, False, id="low-male"),
        pytest.param(237, 921, False, id="jfk-raised-male-voice"),
        pytest.param(189, 1192, True, id="librispeech-1998-female"),
    ],
)
def test_is_female_voice(f0: float, dispersion: float, expected: bool) -> None:
    traits = VoiceTraits(median_f0_hz=f0, formant_dispersion_hz=dispersion)
    assert is_female_voice(traits) is expected


def test_time_map_restores_source_times() -> None:
    spans = (SpeechSpan(start_ms=1000, end_ms=2000), SpeechSpan(start_ms=5000, end_ms=5500))
    time_map = TimeMap.of(spans)
    assert time_map.to_source(0) == 1000
    assert time_map.to_source(999) == 1999
    assert time_map.to_source(1000) == 5000
    assert time_map.to_source(1000, is_end=True) == 2000
    assert time_map.to_source(1400) == 5400


def test_derivation_keys_refuse_floats_and_differ_by_input() -> None:
    assert derive_key("fit", 1, speed=1000) != derive_key("fit", 1, speed=1001)
    assert derive_key("fit", 1, a=1, b=2) == derive_key("fit", 1, b=2, a=1)
    with pytest.raises(TypeError):
        derive_key("fit", 1, speed=1.0)


def test_span_invariants() -> None:
    with pytest.raises(ValueError):
        SpeechSpan(start_ms=10, end_ms=5)
    with pytest.raises(ValueError):
        Line(id="L", start_ms=5, end_ms=5, text="", language="en")
