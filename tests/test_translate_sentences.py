"""Translation for dubbing with the real embedded engines: sentences, candidates, the choice."""

from pathlib import Path

from globalvoice.domain.script import Line
from globalvoice.dubbing.engines import DubEngines
from globalvoice.pipeline.render.choose import choose_fitting
from globalvoice.pipeline.translate.by_sentence import translate_for_dubbing
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.storage.cache import ArtifactCache


def _lines() -> list[Line]:
    texts = [
        (0, 2600, "When the printers of the fifteenth century began their work,"),
        (3300, 6000, "they copied the hand of the scribes."),
        (6500, 8200, "That was natural."),
    ]
    return [
        Line(id=f"L{i}", start_ms=a, end_ms=b, text=t, language="en")
        for i, (a, b, t) in enumerate(texts, start=1)
    ]


def test_a_sentence_over_two_lines_is_translated_whole_with_candidates(
    engines: DubEngines, tmp_path: Path
) -> None:
    assert engines.mt_candidates is not None
    cache = ArtifactCache.local(tmp_path)
    out = translate_for_dubbing(_lines(), "es", translator=engines.mt_candidates, cache=cache)
    first, second, third = out
    assert first.group_id == second.group_id == "L1"
    assert third.group_id == "L3"
    assert len(first.alternatives) >= 2  # n-best through the en->pt->es pivot
    assert len(first.alternatives) == len(second.alternatives) == len(first.scores)
    assert list(first.scores) == sorted(first.scores, reverse=True)
    assert first.text and second.text  # the sentence is shared out, nothing lost
    assert "escrib" in (first.text + " " + second.text).lower()  # "scribes": escribas/escribanos
    again = translate_for_dubbing(_lines(), "es", translator=engines.mt_candidates, cache=cache)
    assert again == out  # from the cache, identical


def test_the_spoken_candidate_is_the_first_that_fits(engines: DubEngines, tmp_path: Path) -> None:
    assert engines.mt_candidates is not None
    cache = ArtifactCache.local(tmp_path)
    out = translate_for_dubbing(_lines(), "es", translator=engines.mt_candidates, cache=cache)
    voices = {
        "S1": SpeakerVoice(
            speaker_id="S1",
            median_f0_hz=120.0,
            formant_dispersion_hz=900.0,
            is_female=False,
            voice=engines.tts.voice_for(is_female=False),
        )
    }

    def said_ms(text: str) -> int:
        return engines.tts.estimate_ms(text, voice=voices["S1"].voice, language="es")

    roomy = choose_fitting(out, voices=voices, tts=engines.tts, budget_ms=lambda ln: 60_000)
    assert [item.chosen for item in roomy] == [0, 0, 0]  # everything fits: the best is spoken
    tight = choose_fitting(out, voices=voices, tts=engines.tts, budget_ms=lambda ln: 1)
    group = tight[:2]
    spoken = sum(said_ms(item.text) for item in group)
    allowed = [k for k, s in enumerate(out[0].scores) if s >= out[0].scores[0] - 0.25]
    # (each candidate as re-cut to the voice's pace: every tried one is, when none fits)
    durations = [sum(said_ms(item.alternatives[k]) for item in group) for k in allowed]
    assert spoken == min(durations)  # nothing fits: the shortest of those close in score
    for k in allowed:  # re-cut or not, no word of a candidate is lost or moved out of order
        assert " ".join(i.alternatives[k] for i in group) == " ".join(
            i.alternatives[k] for i in out[:2]
        )
    assert group[0].chosen == group[1].chosen  # one candidate for the whole sentence
