"""Single-synthesis fitting with the real Kokoro on real text (NTREX-128 Spanish and Portuguese):
the duration predicted before synthesis, the speed chosen from it, one synthesis per line, and
the same takes whether lines run one at a time or in parallel."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import FitOutcome, FitStepKind, FittedTake, Placement
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.dubbing.engines import DubEngines
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.pauses import find_pauses
from globalvoice.pipeline.render.fit_policy import FitPolicy
from globalvoice.pipeline.render.fit_take import TakeRequest, fit_take
from globalvoice.pipeline.render.synthesize import render_language
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.storage.cache import ArtifactCache

pytestmark = pytest.mark.slow

POLICY = FitPolicy(max_tempo_permille=1300, min_gap_ms=80)
# The TTS's own rate all the way to the cap (no stretch step): one synthesis at the needed speed.
RATE_ONLY = FitPolicy(steps=(FitStepKind.TTS_RATE, FitStepKind.FLAG), comfortable_permille=1300)
NTREX = {"es": "ref.spa.txt", "pt": "ref.por-BR.txt"}
NO_PAUSES = FitPolicy(steps=tuple(k for k in FitStepKind if k is not FitStepKind.PAUSES))


class Counting:
    """The real engine, counting synthesize calls and optionally running one line at a time."""

    def __init__(self, inner: Synthesizer, *, parallel_lines: int | None = None) -> None:
        self._inner = inner
        self._parallel = parallel_lines
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def parallel_lines(self) -> int:
        return self._parallel or self._inner.parallel_lines

    def synthesize(self, text: str, **kwargs: Any) -> Pcm:
        self.calls.append((text, kwargs.get("speed_permille", 1000)))
        return self._inner.synthesize(text, **kwargs)


def ntrex(media: Path, language: str, *rows: int) -> list[str]:
    lines = (media / "text" / "ntrex" / NTREX[language]).read_text(encoding="utf-8").splitlines()
    return [lines[row] for row in rows]


def _request(
    line: Line, text: str, language: str, voice: str, candidate: int | None = None
) -> TakeRequest:
    return TakeRequest(line=line, text=text, language=language, voice=voice, candidate=candidate)


@pytest.fixture(scope="module")
def tts(engines: DubEngines) -> Synthesizer:
    return engines.tts


@pytest.mark.parametrize(("language", "row"), [("es", 76), ("es", 19), ("pt", 94)])
def test_duration_is_predicted_before_synthesis(
    media: Path, tts: Synthesizer, language: str, row: int
) -> None:
    (text,) = ntrex(media, language, row)
    voice = tts.voice_for(is_female=row % 2 == 0)
    estimates = [
        tts.estimate_ms(text, voice=voice, language=language, speed_permille=speed)
        for speed in range(1000, 1401, 50)
    ]
    assert estimates == sorted(estimates, reverse=True), "longer at a higher speed"
    for speed, estimate in ((1000, estimates[0]), (1250, estimates[5])):
        took = tts.synthesize(text, voice=voice, language=language, speed_permille=speed)
        # The frame counts are exact; only the trimmed end silence (sd 50 ms) is modelled.
        assert abs(estimate - took.duration_ms) <= 150, (speed, estimate, took.duration_ms)


def test_long_line_is_synthesized_once_at_the_speed_its_slot_needs(
    media: Path, tts: Synthesizer
) -> None:
    (text,) = ntrex(media, "es", 19)
    voice = tts.voice_for(is_female=True)
    natural = tts.synthesize(text, voice=voice, language="es").duration_ms
    slot_ms = round(natural / 1.2)  # needs 1.2x
    line = Line(id="L1", start_ms=5_000, end_ms=5_000 + slot_ms, text="x", language="en")
    counting = Counting(tts)
    take = fit_take(_request(line, text, "es", voice), silence_ms=0, tts=counting, policy=RATE_ONLY)
    assert len(counting.calls) == 1
    assert take.outcome is FitOutcome.SPED_UP
    assert take.start_ms == 5_000
    assert take.audio.duration_ms <= slot_ms
    assert take.tts_speed_permille > 1200  # Kokoro's knob shortens less than its value
    # The honest natural length: within 3 % of the real speed-1.0 take, and so the tempo.
    assert abs(take.natural_ms - natural) <= 0.03 * natural
    assert 1.17 <= take.tempo <= 1.25
    # No needless speed-up: at most the slot's need plus the estimate's error.
    assert take.audio.duration_ms * 100 >= slot_ms * 99


def test_line_that_fits_keeps_the_natural_voice(media: Path, tts: Synthesizer) -> None:
    (text,) = ntrex(media, "pt", 94)
    voice = tts.voice_for(is_female=False)
    line = Line(id="L2", start_ms=0, end_ms=14_000, text="x", language="en")
    counting = Counting(tts)
    take = fit_take(_request(line, text, "pt", voice), silence_ms=0, tts=counting, policy=POLICY)
    assert counting.calls == [(text, 1000)]
    assert (take.outcome, take.tempo, take.tts_speed_permille) == (FitOutcome.NATURAL, 1.0, 1000)
    assert take.natural_ms == take.audio.duration_ms


def test_over_the_cap_is_placed_and_flagged(media: Path, tts: Synthesizer) -> None:
    (text,) = ntrex(media, "es", 76)
    voice = tts.voice_for(is_female=True)
    line = Line(id="L3", start_ms=1_000, end_ms=3_000, text="x", language="en")
    take = fit_take(_request(line, text, "es", voice), silence_ms=0, tts=tts, policy=POLICY)
    assert take.outcome is FitOutcome.FLAGGED
    assert take.start_ms == 1_000
    assert take.tempo <= 1.3 + 1e-3
    assert take.audio.duration_ms > 2_000  # placed whole, never cut


def test_line_over_its_slot_records_the_chain_steps(media: Path, tts: Synthesizer) -> None:
    (text,) = ntrex(media, "es", 19)
    voice = tts.voice_for(is_female=True)
    natural = tts.estimate_ms(text, voice=voice, language="es")
    line_ms = round(natural / 1.25)  # needs 1.25x in the line alone; 300 ms of silence after it
    line = Line(id="L4", start_ms=2_000, end_ms=2_000 + line_ms, text="x", language="en")
    counting = Counting(tts)
    take = fit_take(
        _request(line, text, "es", voice, candidate=1),
        silence_ms=300,
        tts=counting,
        policy=NO_PAUSES,
    )
    assert len(counting.calls) == 1
    assert [step.kind for step in take.steps] == [
        FitStepKind.CANDIDATE,
        FitStepKind.TTS_RATE,
        FitStepKind.BORROW,
        FitStepKind.STRETCH,
    ]
    labels = [step.label for step in take.steps]
    assert labels[0] == "candidate:1" and labels[2] == "borrow:300ms", labels
    assert 1.10 <= take.steps[1].value / 1000 <= 1.18, labels  # the TTS rate: to ~1.15
    assert take.borrowed_ms == 300 and take.slot_ms == line_ms + 300
    assert take.outcome is FitOutcome.SPED_UP and take.fits
    assert take.audio.duration_ms <= take.slot_ms
    assert 1.15 < take.tempo <= 1.3 + 1e-3


def test_parallel_lines_render_the_same_takes_in_order(
    media: Path, tts: Synthesizer, tmp_path: Path
) -> None:
    texts = ntrex(media, "es", 91, 1, 29, 26)
    items, start = [], 0
    for index, text in enumerate(texts):
        line = Line(
            id=f"L{index}",
            start_ms=start,
            end_ms=start + 2_600,
            text="src",
            language="en",
            speaker_id="S1",
        )
        items.append(TranslatedLine(line=line, language="es", text=text, engine="test"))
        start += 3_000
    voice = tts.voice_for(is_female=True)
    voices = {
        "S1": SpeakerVoice(
            speaker_id="S1",
            median_f0_hz=220.0,
            formant_dispersion_hz=1100.0,
            is_female=True,
            voice=voice,
        )
    }
    results = []
    for workers in (1, 2):
        counting = Counting(tts, parallel_lines=workers)
        made: dict[str, FittedTake] = {}
        renders = render_language(
            items,
            voices=voices,
            tts=counting,
            policy=POLICY,
            media_end_ms=start,
            cache=ArtifactCache.local(tmp_path / f"cache{workers}"),
            on_take=lambda take, made=made: made.setdefault(take.line_id, take),
        )
        assert sorted(text for text, _ in counting.calls) == sorted(texts)  # once per line
        assert sorted(made) == sorted(item.line.id for item in items)  # every take handed on
        assert [r.placement for r in renders] == [Placement.of(made[i.line.id]) for i in items]
        results.append((renders, made))
    (serial, serial_takes), (parallel, parallel_takes) = results
    for one, two, item in zip(serial, parallel, items, strict=True):
        assert one.translated is item and two.translated is item
        assert one.placement is not None and two.placement is not None
        assert one.placement.start_ms == item.line.start_ms
        assert (one.placement.tts_speed_permille, one.placement.natural_ms) == (
            two.placement.tts_speed_permille,
            two.placement.natural_ms,
        )
        assert one.placement.tempo == two.placement.tempo
        assert np.allclose(
            serial_takes[item.line.id].audio.samples,
            parallel_takes[item.line.id].audio.samples,
            atol=1e-4,
        )


def test_long_lines_are_not_synthesized_together() -> None:
    """Longest first over two workers, but never two long lines at once: the running lines'
    sizes never pass the longest plus the median, and every job runs once."""
    import threading
    import time

    from globalvoice.pipeline.render.synthesize import _Job, _run_jobs

    sizes = [400, 390, 380, 60, 50, 40, 30, 300]
    lock = threading.Lock()
    running: list[int] = []
    loads: list[int] = []

    def job(size: int) -> Any:
        with lock:
            running.append(size)
            loads.append(sum(running))
        time.sleep(0.02 + size / 20_000)
        with lock:
            running.remove(size)
        return size

    jobs = [
        _Job(index=i, key=str(i), run=lambda size=size: job(size), size=size)  # type: ignore[misc]
        for i, size in enumerate(sizes)
    ]
    done = [j.size for j, _ in _run_jobs(jobs, workers=2)]
    assert sorted(done) == sorted(sizes)
    assert max(loads) <= 400 + 300  # longest + median (sorted sizes[4])
    assert max(loads) > 400  # still two at a time: a long line beside a short one


LONG_SENTENCE_ES = (
    "La imprenta, en el único sentido con el que estamos preocupados actualmente, difiere de "
    "la mayoría, si no de todas, las artes y oficios representados en la exposición, en ser "
    "comparativamente moderna."
)  # LJ001-0001..0002 as the dub translates them: a comma every few words


def test_the_voices_long_pauses_are_shortened_before_its_words_are_sped_up(
    tts: Synthesizer,
) -> None:
    voice = tts.voice_for(is_female=True)
    natural = tts.estimate_ms(LONG_SENTENCE_ES, voice=voice, language="es")
    line_ms = round(natural / 1.19)  # as in the LJSpeech minute: 1.19x with no pause to borrow
    line = Line(id="L1", start_ms=0, end_ms=line_ms, text="x", language="en")
    plain = fit_take(
        _request(line, LONG_SENTENCE_ES, "es", voice), silence_ms=0, tts=tts, policy=NO_PAUSES
    )
    tight = fit_take(
        _request(line, LONG_SENTENCE_ES, "es", voice), silence_ms=0, tts=tts, policy=POLICY
    )
    assert plain.tempo > 1.17  # words sped up and stretched to fit
    labels = [step.label for step in tight.steps]
    assert FitStepKind.PAUSES in [step.kind for step in tight.steps], labels
    assert tight.tempo <= 1.15, labels  # the words are read at a comfortable rate
    assert tight.fits and tight.audio.duration_ms <= line_ms
    kept = [p.duration_ms for p in find_pauses(tight.audio)]
    assert kept and min(kept) >= 100  # pauses shortened, not removed


LONG_SENTENCE_PT = (
    "produziram os livros de bloco que eram os antecessores imediatos do verdadeiro livro "
    "impresso, a invenção de letras metálicas móveis em meados do século XV pode ser "
    "considerada apenas como a"
)  # LJ001-0003 as the dub re-translates it, on its 12 s line with no silence after it


def test_a_take_whose_pauses_were_cut_reads_no_faster_than_the_comfortable_tempo(
    tts: Synthesizer,
) -> None:
    """The TTS speed lands the take a few ms past the comfortable tempo (1.1501x here before
    the pauses step also took those ms out of the pauses, with pauses to spare)."""
    voice = tts.voice_for(is_female=True)
    line = Line(id="L3", start_ms=0, end_ms=12000, text="x", language="en")
    take = fit_take(
        _request(line, LONG_SENTENCE_PT, "pt", voice), silence_ms=0, tts=tts, policy=POLICY
    )
    labels = [step.label for step in take.steps]
    assert FitStepKind.PAUSES in [step.kind for step in take.steps], labels
    assert take.tempo <= 1.15, labels
    assert take.fits and take.audio.duration_ms <= 12000


def test_a_long_line_is_spoken_in_short_batches_and_its_length_still_predicted(
    tts: Synthesizer,
) -> None:
    from globalvoice.engines.tts.kokoro import _MAX_BATCH_PHONEMES, _batches

    text = LONG_SENTENCE_ES + " " + LONG_SENTENCE_ES.replace("La imprenta", "El grabado")
    phonemes = " ".join(tts._kokoro.tokenizer.phonemize(text, "es").split())  # type: ignore[attr-defined]
    batches = _batches(phonemes)
    assert len(batches) >= 3 and all(len(b) <= _MAX_BATCH_PHONEMES for b in batches)
    assert all(b.rstrip()[-1] in ",.;:" for b in batches)  # cut at clause or sentence marks
    voice = tts.voice_for(is_female=False)
    for speed in (1000, 1200):
        estimate = tts.estimate_ms(text, voice=voice, language="es", speed_permille=speed)
        took = tts.synthesize(text, voice=voice, language="es", speed_permille=speed)
        assert abs(estimate - took.duration_ms) <= 200, (speed, estimate, took.duration_ms)
