"""Diarization policy without the model: DER, clustering, smoothing, speaker types, line splits.

The stage itself runs here on tones with a band-energy "embedder" (a fake: one direction per
pitch), so its windowing, resegmentation, overlap and cache logic are checked in milliseconds.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import TypeAdapter

from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ConfigError
from globalvoice.domain.speakers import (
    Diarization,
    OverlapRegion,
    SpeakerTurn,
    single_speaker,
)
from globalvoice.domain.transcript import SpeechSpan, Transcript, TranscriptSegment, Word
from globalvoice.engines.base import EngineInfo
from globalvoice.pipeline.analyse.clustering import ClusterPolicy, cluster, smooth_path
from globalvoice.pipeline.analyse.diarize import diarize, diarize_cached
from globalvoice.pipeline.analyse.segment import SegmentPolicy, build_lines
from globalvoice.storage.cache import ArtifactCache
from tests.der import der

RATE = 16_000
PITCHES = (200.0, 500.0, 900.0)


class ToneEmbedder:
    """A fake embedder: the energy near each of PITCHES, normalised (a tone is one axis)."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="speaker.tones", model_id="bands", licence="test")

    @property
    def dim(self) -> int:
        return len(PITCHES)

    @property
    def window_ms(self) -> int:
        return 800

    def embed_spans(
        self, audio: Pcm, spans_ms: Sequence[tuple[int, int]]
    ) -> npt.NDArray[np.float32]:
        self.calls += 1
        out = np.zeros((len(spans_ms), self.dim), dtype=np.float32)
        for row, (start, end) in enumerate(spans_ms):
            piece = audio.slice_ms(start, end).samples
            spectrum = np.abs(np.fft.rfft(piece))
            freqs = np.fft.rfftfreq(len(piece), 1 / audio.rate_hz)
            for axis, pitch in enumerate(PITCHES):
                out[row, axis] = np.sqrt(spectrum[np.abs(freqs - pitch) < 20].sum())
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def tones(plan: Sequence[tuple[float, Sequence[int]]]) -> Pcm:
    """Audio from (seconds, speakers) pieces: each speaker a tone; () is silence."""
    pieces = []
    for seconds, speakers in plan:
        t = np.arange(round(seconds * RATE)) / RATE
        piece = sum((0.3 * np.sin(2 * np.pi * PITCHES[s] * t) for s in speakers), np.zeros_like(t))
        pieces.append(piece)
    return Pcm(samples=np.concatenate(pieces).astype(np.float32), rate_hz=RATE)


def speech_of(plan: Sequence[tuple[float, Sequence[int]]]) -> list[SpeechSpan]:
    spans, at = [], 0
    for seconds, speakers in plan:
        ms = round(seconds * 1000)
        if speakers:
            if spans and spans[-1].end_ms == at:
                spans[-1] = SpeechSpan(start_ms=spans[-1].start_ms, end_ms=at + ms)
            else:
                spans.append(SpeechSpan(start_ms=at, end_ms=at + ms))
        at += ms
    return spans


# ------------------------------------------------------------------ DER


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ([(0, 10_000, "a")], [(0, 10_000, "x")], 0.0),  # labels are mapped, not compared
        ([(0, 5_000, "a"), (5_000, 10_000, "b")], [(0, 10_000, "x")], 0.5),  # b confused
        ([(0, 10_000, "a")], [], 1.0),  # all missed
        ([(0, 10_000, "a")], [(0, 10_000, "x"), (0, 5_000, "y")], 0.5),  # false alarm
        ([(0, 5_000, "a"), (5_000, 10_000, "b")], [(0, 5_300, "x"), (5_300, 10_000, "y")], 0.0),
    ],
)
def test_der_table(
    reference: list[tuple[int, int, str]], hypothesis: list[tuple[int, int, str]], expected: float
) -> None:
    assert der(reference, hypothesis, collar_ms=250).der == pytest.approx(expected, abs=0.06)


def test_der_collar_and_components() -> None:
    reference = [(0, 5_000, "a"), (5_000, 10_000, "b")]
    shifted = [(0, 5_400, "x"), (5_400, 10_000, "y")]  # boundary 400 ms late
    assert der(reference, shifted, collar_ms=250).der == pytest.approx(150 / 9_000, abs=0.002)
    assert der(reference, shifted, collar_ms=0).der == pytest.approx(0.04, abs=0.002)
    score = der([(0, 4_000, "a"), (2_000, 4_000, "b")], [(0, 4_000, "x")], collar_ms=0)
    assert (score.missed, score.confusion, score.false_alarm) == (pytest.approx(2 / 6), 0.0, 0.0)
    assert score.mapping == {"a": "x"}


# ------------------------------------------------------------------ clustering


def noisy(centres: Sequence[int], per: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for centre in centres:
        base = np.eye(dim)[centre]
        rows += [base + 0.12 * rng.standard_normal(dim) for _ in range(per)]
    out = np.array(rows, dtype=np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.parametrize("speakers", [1, 2, 3, 4])
def test_cluster_estimates_the_count(speakers: int) -> None:
    labels = cluster(noisy(range(speakers), 20), count=None, policy=ClusterPolicy())
    assert len(set(labels.tolist())) == speakers
    assert labels[0] == 0  # numbered by first appearance


def test_cluster_honours_a_given_count_and_drops_stray_windows() -> None:
    vectors = noisy([0, 1], 20)
    assert len(set(cluster(vectors, count=3, policy=ClusterPolicy()).tolist())) == 3
    stray = np.concatenate([vectors, noisy([5], 1, seed=3)])  # one odd window: not a speaker
    assert len(set(cluster(stray, count=None, policy=ClusterPolicy()).tolist())) == 2


def test_cluster_folds_overlapping_speech_into_its_speakers() -> None:
    both = np.eye(16, dtype=np.float32)[[0]] + np.eye(16, dtype=np.float32)[[1]]
    mixed = np.repeat(both / np.linalg.norm(both), 5, axis=0)  # 5 windows of a and b at once
    labels = cluster(np.concatenate([noisy([0, 1], 20), mixed]), count=None, policy=ClusterPolicy())
    assert len(set(labels.tolist())) == 2


def test_smooth_path_removes_flicker_but_keeps_turns() -> None:
    scores = np.zeros((30, 2))
    scores[:15, 0] = scores[15:, 1] = 0.8
    scores[:15, 1] = scores[15:, 0] = 0.3
    scores[6, :] = [0.3, 0.8]  # one stray cell
    path = smooth_path(scores, switch_cost=np.full(30, 0.6))
    assert path.tolist() == [0] * 15 + [1] * 15
    free = np.full(30, 0.6)
    free[6] = free[7] = 0.0  # a pause on both sides of the cell: switching there is free
    assert smooth_path(scores, switch_cost=free)[6] == 1


# ------------------------------------------------------------------ domain types


def two_speakers() -> Diarization:
    return Diarization(
        turns=(
            SpeakerTurn(speaker_id="S1", start_ms=0, end_ms=3_000),
            SpeakerTurn(speaker_id="S2", start_ms=3_000, end_ms=5_000),
            SpeakerTurn(speaker_id="S1", start_ms=6_000, end_ms=8_000),
        ),
        overlaps=(OverlapRegion(start_ms=2_500, end_ms=3_500, speaker_ids=("S1", "S2")),),
        estimated_count=2,
        embedder="speaker.tones:bands",
    )


def test_diarization_serialises_both_ways() -> None:
    value = two_speakers()
    adapter = TypeAdapter(Diarization)
    assert adapter.validate_json(adapter.dump_json(value)) == value
    assert value.speaker_ids == ("S1", "S2")
    assert value.speech_ms("S1") == 5_000


def test_diarization_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="turns overlap"):
        Diarization(
            turns=(
                SpeakerTurn(speaker_id="S1", start_ms=0, end_ms=2_000),
                SpeakerTurn(speaker_id="S2", start_ms=1_000, end_ms=3_000),
            ),
            estimated_count=2,
        )
    with pytest.raises(ValueError, match="two different"):
        OverlapRegion(start_ms=0, end_ms=1, speaker_ids=("S1", "S1"))


@pytest.mark.parametrize(
    ("start", "end", "speaker"),
    [(0, 100, "S1"), (2_900, 3_300, "S2"), (4_900, 5_600, "S2"), (5_400, 5_600, "S2"),
     (5_700, 5_900, "S1"), (9_000, 9_100, "S1")],
)  # fmt: skip
def test_speaker_at(start: int, end: int, speaker: str) -> None:
    assert two_speakers().speaker_at(start, end) == speaker


# ------------------------------------------------------------------ lines split at speakers


def transcript(words: Sequence[tuple[int, int, str]]) -> Transcript:
    timed = tuple(Word(start_ms=s, end_ms=e, text=f" {t}") for s, e, t in words)
    segment = TranscriptSegment(
        start_ms=timed[0].start_ms, end_ms=timed[-1].end_ms, text="", language="en", words=timed
    )
    return Transcript(language="en", language_probability=1.0, segments=(segment,))


def test_a_line_never_spans_two_speakers() -> None:
    words = transcript(
        [(0, 500, "Good"), (500, 1_000, "morning"), (1_000, 2_900, "Steve"),
         (3_050, 3_500, "Hello"), (3_500, 4_800, "Katie."), (6_100, 7_000, "Bye.")]
    )  # fmt: skip
    lines = build_lines(words, policy=SegmentPolicy(), speakers=two_speakers())
    assert [(ln.text, ln.speaker_id) for ln in lines] == [
        ("Good morning Steve", "S1"),
        ("Hello Katie.", "S2"),
        ("Bye.", "S1"),
    ]
    plain = build_lines(words, policy=SegmentPolicy())
    one = build_lines(
        words,
        policy=SegmentPolicy(),
        speakers=single_speaker([SpeechSpan(start_ms=0, end_ms=7_000)]),
    )
    assert one == plain  # one speaker: exactly the lines of before
    assert {ln.speaker_id for ln in plain} == {"S1"}


# ------------------------------------------------------------------ the stage, on tones


def test_diarize_finds_turns_on_tones() -> None:
    plan = [(4.0, [0]), (5.0, [1]), (0.6, []), (5.0, [0]), (4.5, [2])]
    result = diarize(tones(plan), speech_of(plan), embedder=ToneEmbedder())
    assert result.estimated_count == 3
    reference = [(0, 4_000, "a"), (4_000, 9_000, "b"), (9_600, 14_600, "a"), (14_600, 19_100, "c")]
    hypothesis = [(t.start_ms, t.end_ms, t.speaker_id) for t in result.turns]
    assert der(reference, hypothesis).der < 0.02
    assert [t.speaker_id for t in result.turns] == ["S1", "S2", "S1", "S3"]
    assert result.overlaps == ()


def test_diarize_reports_overlap() -> None:
    plan = [(5.0, [0]), (3.0, [0, 1]), (5.0, [1])]
    result = diarize(tones(plan), speech_of(plan), embedder=ToneEmbedder())
    assert result.estimated_count == 2
    assert len(result.overlaps) == 1
    region = result.overlaps[0]
    assert region.speaker_ids == ("S1", "S2")
    assert region.start_ms >= 4_000 and region.end_ms <= 8_500 and region.duration_ms >= 1_500


def test_diarize_one_speaker_and_given_counts() -> None:
    plan = [(6.0, [0]), (0.8, []), (6.0, [0])]
    embedder = ToneEmbedder()
    assert diarize(tones(plan), speech_of(plan), embedder=embedder).speaker_ids == ("S1",)
    calls = embedder.calls
    one = diarize(tones(plan), speech_of(plan), embedder=embedder, speakers=1)
    assert embedder.calls == calls and one.requested_count == 1  # no model needed for one
    two = [(4.0, [0]), (4.0, [1])]
    assert diarize(tones(two), speech_of(two), embedder=embedder, speakers=2).estimated_count == 2
    assert diarize(tones([(2.0, [])]), [], embedder=embedder).turns == ()


def test_diarize_cached_skips_the_model_the_second_time(tmp_path: object) -> None:
    from pathlib import Path

    cache = ArtifactCache.local(Path(str(tmp_path)))
    plan = [(4.0, [0]), (4.0, [1])]
    embedder = ToneEmbedder()
    kwargs = {"input_digest": "abc", "vad": "vad.x", "embedder": embedder, "cache": cache}
    first = diarize_cached(tones(plan), speech_of(plan), speakers=None, **kwargs)  # type: ignore[arg-type]
    calls = embedder.calls
    second = diarize_cached(tones(plan), speech_of(plan), speakers=None, **kwargs)  # type: ignore[arg-type]
    assert second == first and embedder.calls == calls
    diarize_cached(tones(plan), speech_of(plan), speakers=2, **kwargs)  # type: ignore[arg-type]
    assert embedder.calls == calls + 1  # the count is part of the key
    with pytest.raises(ConfigError, match="no speaker embedder"):
        diarize_cached(
            tones(plan),
            speech_of(plan),
            input_digest="abc",
            vad="v",
            embedder=None,
            speakers=2,
            cache=cache,
        )


def test_analysis_with_speakers_survives_the_stage_codec() -> None:
    from globalvoice.domain.media import MediaInfo
    from globalvoice.domain.script import Line
    from globalvoice.dubbing import codec
    from globalvoice.dubbing.steps import SourceAnalysis

    info = MediaInfo(
        container="wav", duration_ms=8_000, size_bytes=1, audio_codec="pcm", audio_rate_hz=16_000,
        audio_channels=1,
    )  # fmt: skip
    line = Line(
        id="L0001", start_ms=3_000, end_ms=5_000, text="Hi.", language="en", speaker_id="S2"
    )
    analysis = SourceAnalysis(
        info=info, digest="d", transcript_language="en", languages_detected=("en",),
        lines=(line,), voices={}, diarization=two_speakers(),
    )  # fmt: skip
    assert codec.load_analysis(codec.dump(analysis)) == analysis
    legacy = codec.dump(analysis).replace(
        b',"diarization":' + TypeAdapter(Diarization).dump_json(two_speakers()), b""
    )
    assert codec.load_analysis(legacy).diarization is None  # analyses stored before diarization
