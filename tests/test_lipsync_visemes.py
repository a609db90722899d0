"""Phonemes to visemes, frame by frame: the mouth closes on p/b/m, rounds on o/u, opens on a."""

from globalvoice.pipeline.lipsync.visemes import (
    SHAPES,
    TimedPhoneme,
    Viseme,
    viseme_frames,
    viseme_of,
)


def _timed(phonemes: str, each_ms: float) -> list[TimedPhoneme]:
    return [
        TimedPhoneme(phoneme=p, start_ms=i * each_ms, end_ms=(i + 1) * each_ms)
        for i, p in enumerate(phonemes)
    ]


def test_classes_of_spanish_and_english_phonemes() -> None:
    # "mamá", "uno", "fin", "the", "she" as espeak-ng writes them for Kokoro
    assert [viseme_of(p) for p in "mamˈa"] == [
        Viseme.CLOSED, Viseme.OPEN, Viseme.CLOSED, Viseme.REST, Viseme.OPEN,
    ]  # fmt: skip
    assert [viseme_of(p) for p in "ˈuno"] == [
        Viseme.REST, Viseme.ROUNDED, Viseme.ALVEOLAR, Viseme.ROUNDED,
    ]  # fmt: skip
    assert viseme_of("f") is Viseme.LABIODENTAL and viseme_of("ð") is Viseme.DENTAL
    assert viseme_of("ʃ") is Viseme.POSTALVEOLAR and viseme_of("i") is Viseme.SPREAD
    assert viseme_of(" ") is Viseme.REST and viseme_of("ː") is Viseme.REST


def test_shapes_order_openings_as_a_mouth_does() -> None:
    opening = {v: SHAPES[v].opening for v in Viseme}
    assert opening[Viseme.CLOSED] == 0.0
    assert opening[Viseme.OPEN] > opening[Viseme.MID] > opening[Viseme.SPREAD]
    assert SHAPES[Viseme.ROUNDED].width < 1.0 < SHAPES[Viseme.SPREAD].width


def test_frames_take_the_phoneme_at_their_middle() -> None:
    # 25 fps (40 ms frames), 80 ms phonemes: two frames each, rest after the last
    shown = viseme_frames(_timed("pa", 80.0), fps=25.0, frames=6)
    assert shown == [Viseme.CLOSED] * 2 + [Viseme.OPEN] * 2 + [Viseme.REST] * 2


def test_a_closure_shorter_than_a_frame_still_closes_the_mouth() -> None:
    # "apa" with a 15 ms /p/ that covers no frame's middle (frames 40 ms, middles at 20, 60...)
    phonemes = [
        TimedPhoneme("a", 0.0, 62.0),
        TimedPhoneme("p", 62.0, 77.0),
        TimedPhoneme("a", 77.0, 160.0),
    ]
    shown = viseme_frames(phonemes, fps=25.0, frames=4)
    assert shown.count(Viseme.CLOSED) == 1
    assert shown[0] is Viseme.OPEN and shown[-1] is Viseme.OPEN
