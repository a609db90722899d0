"""The fitting chain as one explicit, configurable policy: table-driven tests of the pure plan
(each step reached, limits respected, order configurable), its settings (unknown steps
refused), the steps a take records, the re-translation step on a fake voice, and the manifest's
per-language summary."""

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from globalvoice.config.settings import PipelineSettings, Settings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import FitOutcome, FitStep, FitStepKind, FittedTake
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.dubbing.entries import fit_summary
from globalvoice.dubbing.steps import Placement
from globalvoice.engines.base import EngineInfo
from globalvoice.pipeline.render.fit_policy import FitPolicy, available_ms, plan_chain
from globalvoice.pipeline.render.fit_take import TakeRequest, fit_take, place_take
from globalvoice.pipeline.render.retranslate import sentence_retranslations
from globalvoice.pipeline.render.synthesize import render_language
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.storage.cache import ArtifactCache

K = FitStepKind
VOICES = {
    "S1": SpeakerVoice(
        speaker_id="S1", median_f0_hz=200.0, formant_dispersion_hz=1100.0, is_female=True,
        voice="fake",
    )
}  # fmt: skip
POLICY = FitPolicy()  # cap 1.3, comfortable 1.15, borrow up to 1500 ms, the order


def kinds(steps: tuple[FitStep, ...]) -> list[FitStepKind]:
    return [step.kind for step in steps]


@pytest.mark.parametrize(
    ("natural", "line", "silence", "steps", "target", "slot", "outcome"),
    [
        pytest.param(900, 1000, 0, [], 900, 1000, FitOutcome.NATURAL, id="fits-natural"),
        pytest.param(
            1100, 1000, 500, [K.TTS_RATE], 1000, 1000, FitOutcome.SPED_UP, id="tts-rate"
        ),
        pytest.param(
            1300, 1000, 500, [K.TTS_RATE, K.BORROW], 1131, 1131, FitOutcome.SPED_UP,
            id="rate-to-comfortable-then-borrow-only-what-is-needed",
        ),
        pytest.param(
            1400, 1000, 100, [K.TTS_RATE, K.BORROW, K.STRETCH], 1100, 1100, FitOutcome.SPED_UP,
            id="stretch-after-all-silence-borrowed",
        ),
        pytest.param(
            3000, 1000, 5000, [K.TTS_RATE, K.BORROW, K.STRETCH], 2500, 2500, FitOutcome.SPED_UP,
            id="borrow-limit-1500",
        ),
        pytest.param(
            2000, 1000, 100, [K.TTS_RATE, K.BORROW, K.STRETCH, K.FLAG], 1539, 1100,
            FitOutcome.FLAGGED, id="over-the-cap-flagged",
        ),
    ],
)  # fmt: skip
def test_each_step_is_reached_in_order(
    natural: int,
    line: int,
    silence: int,
    steps: list[FitStepKind],
    target: int,
    slot: int,
    outcome: FitOutcome,
) -> None:
    plan = plan_chain(natural_ms=natural, line_ms=line, silence_ms=silence, policy=POLICY)
    assert kinds(plan.steps) == steps
    assert (plan.target_ms, plan.slot_ms, plan.outcome) == (target, slot, outcome)
    # a shorter re-translation is wanted past the comfortable tempo (1.15), not only over the cap
    assert plan.wants_retranslation is (natural * 1000 > 1150 * target)


def test_limits_hold_everywhere() -> None:
    for natural, line, silence in itertools.product(
        range(500, 6001, 250), range(400, 4001, 300), (0, 80, 700, 1500, 4000)
    ):
        plan = plan_chain(natural_ms=natural, line_ms=line, silence_ms=silence, policy=POLICY)
        assert 0 <= plan.borrowed_ms <= min(silence, 1500)
        assert plan.slot_ms == line + plan.borrowed_ms
        assert natural * 1000 <= plan.take_ms * 1150 + 1150  # TTS rate <= comfortable
        assert natural * 1000 <= plan.target_ms * 1300 + 1300  # total tempo <= cap
        assert plan.target_ms <= plan.take_ms <= natural
        if plan.outcome is FitOutcome.FLAGGED:
            assert plan.target_ms > plan.slot_ms and plan.target_ms == -(-natural * 1000 // 1300)
        else:
            assert plan.target_ms <= plan.slot_ms


def test_order_and_steps_are_configurable() -> None:
    borrow_first = FitPolicy(steps=(K.BORROW, K.TTS_RATE, K.STRETCH, K.FLAG))
    plan = plan_chain(natural_ms=1100, line_ms=1000, silence_ms=500, policy=borrow_first)
    assert (kinds(plan.steps), plan.borrowed_ms, plan.outcome) == (
        [K.BORROW],
        100,
        FitOutcome.NATURAL,
    )
    no_stretch = FitPolicy(steps=(K.TTS_RATE, K.FLAG))
    plan = plan_chain(natural_ms=1400, line_ms=1000, silence_ms=900, policy=no_stretch)
    assert kinds(plan.steps) == [K.TTS_RATE, K.FLAG] and plan.target_ms == 1218
    nothing = FitPolicy(steps=(K.FLAG,))
    plan = plan_chain(natural_ms=1100, line_ms=1000, silence_ms=900, policy=nothing)
    assert (kinds(plan.steps), plan.target_ms) == ([K.FLAG], 1100)


@pytest.mark.parametrize(
    ("next_start", "media_end", "policy", "expected"),
    [
        pytest.param(5000, 60_000, POLICY, 2500, id="borrows-at-most-the-limit"),
        pytest.param(2500, 60_000, POLICY, 1420, id="never-past-next-line-less-gap"),
        pytest.param(2050, 60_000, POLICY, 1000, id="never-less-than-the-source-line"),
        pytest.param(None, 2300, POLICY, 1300, id="never-past-media-end"),
        pytest.param(5000, 60_000, FitPolicy(steps=(K.TTS_RATE, K.FLAG)), 1000, id="no-borrow"),
    ],
)
def test_slot_reach(
    next_start: int | None, media_end: int, policy: FitPolicy, expected: int
) -> None:
    line = Line(id="L1", start_ms=1000, end_ms=2000, text="x", language="en")
    assert available_ms(line, next_start, media_end, policy) == expected


def test_settings_build_the_policy_and_refuse_unknown_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = PipelineSettings()
    assert settings.fit.steps == (
        "candidate", "tts_rate", "borrow", "pauses", "stretch", "retranslate", "flag"
    )  # fmt: skip
    policy = FitPolicy.of(settings)
    assert policy == POLICY
    monkeypatch.setenv("GV_PIPELINE__FIT__STEPS", '["borrow", "stretch", "flag"]')
    monkeypatch.setenv("GV_PIPELINE__FIT__BORROW_SILENCE_MS", "600")
    custom = FitPolicy.of(Settings().pipeline)
    assert custom.steps == (K.BORROW, K.STRETCH, K.FLAG) and custom.borrow_limit_ms == 600
    with pytest.raises(ValidationError, match=r"unknown fit step.*'squeeze'"):
        PipelineSettings.model_validate({"fit": {"steps": ["tts_rate", "squeeze", "flag"]}})
    for bad in (["tts_rate"], ["flag", "tts_rate"], ["tts_rate", "candidate", "flag"],
                ["stretch", "stretch", "flag"]):  # fmt: skip
        with pytest.raises(ValidationError):
            PipelineSettings.model_validate({"fit": {"steps": bad}})
    capped = FitPolicy.of(PipelineSettings(max_tempo=1.1))
    assert capped.comfortable_permille == 1100  # never above the cap


def test_step_labels() -> None:
    steps = [
        FitStep(kind=K.CANDIDATE, value=2),
        FitStep(kind=K.TTS_RATE, value=1120),
        FitStep(kind=K.BORROW, value=640),
        FitStep(kind=K.STRETCH, value=1050),
        FitStep(kind=K.RETRANSLATE, value=3),
        FitStep(kind=K.FLAG),
    ]
    assert [s.label for s in steps] == [
        "candidate:2", "tts_rate:1.12", "borrow:640ms", "stretch:1.05", "retranslate:3", "flagged"
    ]  # fmt: skip


class FakeVoice:
    """A voice that speaks 60 ms per character (a tone), its speed knob exactly linear."""

    parallel_lines = 1
    info = EngineInfo(name="tts.fake", model_id="tone-60ms", licence="test")

    def __init__(self) -> None:
        self.calls: list[str] = []

    def estimate_ms(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> int:
        return len(text) * 60 * 1000 // speed_permille

    def synthesize(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> Pcm:
        self.calls.append(text)
        ms = self.estimate_ms(text, voice=voice, language=language, speed_permille=speed_permille)
        t = np.arange(ms * 24, dtype=np.float32) / 24_000
        return Pcm(samples=(0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate_hz=24_000)


def fake_fit(text: str, policy: FitPolicy, **kwargs: Any) -> FittedTake:
    line = Line(id="L1", start_ms=0, end_ms=1000, text="x", language="en")
    voice: Any = FakeVoice()
    request = TakeRequest(line=line, text=text, language="es", voice="v", **kwargs)
    return fit_take(request, silence_ms=0, tts=voice, policy=policy)


def test_over_the_cap_is_retranslated_once_to_the_shortest_candidate() -> None:
    long_text, medium, short = "a" * 30, "b" * 24, "c" * 19  # 1800, 1440, 1140 ms
    take = fake_fit(long_text, POLICY, candidate=0, alternatives=[(1, medium), (2, short)])
    assert take.retranslated_to == 2
    assert take.steps[0].label == "candidate:0"
    assert kinds(take.steps) == [K.CANDIDATE, K.TTS_RATE, K.RETRANSLATE]
    assert take.outcome is FitOutcome.SPED_UP and take.audio.duration_ms <= 1000
    assert abs(take.tempo - 1.14) < 0.01
    # Without the step, or with nothing shorter to say: flagged, placed whole at the cap.
    for policy, others in (
        (FitPolicy(steps=(K.TTS_RATE, K.BORROW, K.STRETCH, K.FLAG)), [(2, short)]),
        (POLICY, [(1, "d" * 31)]),
    ):
        flagged = fake_fit(long_text, policy, alternatives=others)
        assert flagged.retranslated_to is None and kinds(flagged.steps)[-1] is K.FLAG
        assert flagged.audio.duration_ms == 1385 and not flagged.fits  # 1800 ms / 1.3


def test_past_the_comfortable_tempo_is_retranslated_to_the_best_scored_comfortable() -> None:
    """1200 ms in a 1000 ms slot fits within the cap (1.2x) but past the comfortable 1.15x:
    re-translated to the best-scored candidate that reads at 1.15x or less (1140 ms), not to
    the shortest (600 ms)."""
    take = fake_fit("a" * 20, POLICY, candidate=0, alternatives=[(1, "b" * 19), (2, "c" * 10)])
    assert take.retranslated_to == 1 and take.fits
    assert take.tempo <= 1.15
    # already comfortable: kept as chosen
    kept = fake_fit("a" * 19, POLICY, candidate=0, alternatives=[(1, "c" * 10)])
    assert kept.retranslated_to is None and kinds(kept.steps) == [K.CANDIDATE, K.TTS_RATE]


def test_render_records_the_chain_speaks_the_retranslation_and_caches_both(
    tmp_path: Path,
) -> None:
    def line(index: int, start: int) -> Line:
        return Line(id=f"L{index}", start_ms=start, end_ms=start + 1000, text="x", language="en")

    items = [
        TranslatedLine(  # over the cap: re-translated to its shortest candidate
            line=line(1, 0), language="es", text="a" * 30, engine="t", group_id="L1",
            alternatives=("a" * 30, "b" * 24, "c" * 19), scores=(-0.1, -0.2, -0.3),
        ),
        TranslatedLine(  # the first of a two-line sentence: over the cap, so the whole
            # sentence is re-translated to its best-scored candidate that reads comfortably
            line=line(2, 1100), language="es", text="d" * 30, engine="t", group_id="L2",
            alternatives=("d" * 30, "e" * 25, "h" * 10, "j" * 5), scores=(-0.1, -0.2, -0.3, -0.4),
        ),
        TranslatedLine(
            line=line(3, 2200), language="es", text="f" * 10, engine="t", group_id="L2",
            alternatives=("f" * 10, "g" * 10, "i" * 12, "k" * 2), scores=(-0.1, -0.2, -0.3, -0.4),
        ),
        TranslatedLine(  # a sentence that reads comfortably: kept
            line=line(4, 3300), language="es", text="m" * 10, engine="t", group_id="L4",
            alternatives=("m" * 10, "n" * 2), scores=(-0.1, -0.2),
        ),
        TranslatedLine(
            line=line(5, 4400), language="es", text="o" * 10, engine="t", group_id="L4",
            alternatives=("o" * 10, "p" * 2), scores=(-0.1, -0.2),
        ),
    ]  # fmt: skip
    cache = ArtifactCache.local(tmp_path / "cache")
    renders = []
    for _ in range(2):
        tts = FakeVoice()
        renders.append(
            render_language(
                items,
                voices=VOICES,
                tts=tts,
                policy=POLICY,
                media_end_ms=6000,
                cache=cache,  # type: ignore[arg-type]
                on_take=lambda take: None,
            )
        )
    first, again = renders
    assert tts.calls == []  # nothing recomputed: every take came from the cache
    spoken = first[0]
    assert spoken.translated.text == "c" * 19 and spoken.translated.chosen == 2
    assert spoken.placement is not None and spoken.placement.fits
    assert spoken.placement.retranslated_to == 2
    # "e" * 25 (1500 ms) would still be over the cap in L2's 1020 ms: the sentence's second
    # candidate is skipped for its third, in both of its lines, recorded as a re-translation
    for render, text in zip(first[1:3], ("h" * 10, "i" * 12), strict=True):
        assert render.translated.text == text and render.translated.chosen == 2
        assert render.placement is not None and render.placement.fits
        assert render.placement.tempo == 1.0
        assert [s.label for s in render.placement.steps] == ["candidate:0", "retranslate:2"]
    assert [r.translated.text for r in first[3:]] == ["m" * 10, "o" * 10]
    assert all(r.placement is not None and r.placement.retranslated_to is None for r in first[3:])
    for one, two in zip(first, again, strict=True):
        assert one.translated == two.translated
        assert one.placement is not None and two.placement is not None
        assert (one.placement.steps, one.placement.borrowed_ms, one.placement.tempo) == (
            two.placement.steps,
            two.placement.borrowed_ms,
            two.placement.tempo,
        )


def test_language_summary_counts_final_steps_and_tempos() -> None:
    def placed(tempo: float, *steps: FitStep, flagged: bool = False) -> Placement:
        return Placement(
            line_id="L",
            start_ms=0,
            end_ms=1,
            slot_ms=1,
            natural_ms=1,
            tempo=tempo,
            tts_speed_permille=1000,
            outcome=FitOutcome.FLAGGED if flagged else FitOutcome.SPED_UP,
            borrowed_ms=sum(s.value for s in steps if s.kind is K.BORROW),
            steps=steps,
        )

    flag = (FitStep(kind=K.STRETCH, value=1300), FitStep(kind=K.FLAG))
    takes = [
        placed(1.0),
        placed(1.1, FitStep(kind=K.TTS_RATE, value=1100)),
        placed(1.15, FitStep(kind=K.TTS_RATE, value=1150), FitStep(kind=K.BORROW, value=300)),
        placed(1.3, *flag, flagged=True),
    ]
    summary = fit_summary(takes).model_dump()
    assert summary["final_steps"] == {"borrow": 1, "flag": 1, "natural": 1, "tts_rate": 1}
    assert summary["share_tempo_le_1_15"] == 0.75 and summary["share_within_cap"] == 0.75
    assert summary["tempo_percentiles"]["p50"] == 1.1
    assert summary["tempo_percentiles"]["p100"] == 1.3
    assert summary["borrowed_ms_total"] == 300


def test_a_take_shorter_than_planned_is_not_left_past_the_comfortable_tempo() -> None:
    line = Line(id="L1", start_ms=0, end_ms=1000, text="x", language="en")
    tone = FakeVoice().synthesize("a" * 16, voice="v", language="es", speed_permille=1000)
    short = Pcm(samples=tone.samples[: 995 * 24], rate_hz=24_000)  # the plan said 1000 ms
    take = place_take(
        short, line, natural_ms=1150, tts_speed_permille=1160, silence_ms=0, policy=POLICY
    )
    assert take.audio.duration_ms == 1000 and take.tempo == 1.15


@pytest.mark.parametrize(
    ("chars", "condensed_taken"),
    [pytest.param(58, False, id="1.16x-just-past-comfortable"), pytest.param(59, True, id="1.18x")],
)
def test_a_condensed_candidate_is_taken_only_when_clearly_needed(
    chars: int, condensed_taken: bool, tmp_path: Path
) -> None:
    """Lines of 3000 ms back to back at 60 ms a character. The chosen candidate's hardest line
    needs `chars` characters; the only other candidate is condensed (scored past the choice
    margin: it may drop detail). Just past the comfortable tempo (1.16x) the pauses step and the
    estimate's error can still bring the line home, so it is not worth it; at 1.18x it is, for
    a sentence over two lines and for a line alone."""

    def line(index: int, start: int) -> Line:
        return Line(id=f"L{index}", start_ms=start, end_ms=start + 3000, text="x", language="en")

    sentence = [
        TranslatedLine(
            line=line(n, 3000 * (n - 1)), language="pt", text=first, engine="t", group_id="L1",
            alternatives=(first, "c" * 50), scores=(-0.1, -0.5),
        )
        for n, first in ((1, "a" * chars), (2, "b" * 40))
    ]  # fmt: skip
    tts: Any = FakeVoice()
    switched = sentence_retranslations(
        sentence, voices=VOICES, tts=tts, policy=POLICY, media_end_ms=6000
    )
    assert switched == ({0: 1, 1: 1} if condensed_taken else {})
    alone = replace(sentence[0], group_id="L1", line=line(1, 0))
    (rendered,) = render_language(
        [alone], voices=VOICES, tts=tts, policy=POLICY, media_end_ms=3000,
        cache=ArtifactCache.local(tmp_path, enabled=False), on_take=lambda take: None,
    )  # fmt: skip
    assert rendered.placement is not None
    assert (rendered.placement.retranslated_to == 1) is condensed_taken
