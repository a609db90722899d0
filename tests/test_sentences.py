"""Sentence grouping for translation and the split of a translation back onto line slots."""

from globalvoice.domain.script import Line
from globalvoice.pipeline.translate.sentences import group_sentences, split_translation


def _line(i: int, start: int, end: int, text: str, speaker: str = "S1") -> Line:
    return Line(
        id=f"L{i}", start_ms=start, end_ms=end, text=text, language="en", speaker_id=speaker
    )


def test_a_sentence_cut_at_a_pause_is_one_group() -> None:
    lines = [
        _line(1, 0, 2000, "When the storm came,"),
        _line(2, 2800, 5000, "we stayed inside."),
        _line(3, 5200, 7000, "Then it passed."),
    ]
    assert group_sentences(lines) == [[0, 1], [2]]


def test_other_speaker_or_long_pause_starts_a_new_group() -> None:
    lines = [
        _line(1, 0, 2000, "And so"),
        _line(2, 2100, 4000, "he left", speaker="S2"),
        _line(3, 9000, 10000, "without a word"),
    ]
    assert group_sentences(lines) == [[0], [1], [2]]


def test_split_follows_weights_and_prefers_a_comma() -> None:
    text = "Cuando llegó la tormenta, nos quedamos dentro de la casa."
    first, second = split_translation(text, [2000, 2200])
    assert first == "Cuando llegó la tormenta,"
    assert second == "nos quedamos dentro de la casa."


def test_split_keeps_every_word_once() -> None:
    text = "uno dos tres cuatro cinco seis siete ocho nueve diez"
    pieces = split_translation(text, [1, 1, 1])
    assert " ".join(pieces).split() == text.split()
    assert all(pieces)


def test_split_with_fewer_words_than_pieces_never_loses_words() -> None:
    pieces = split_translation("Sí.", [1, 1])
    assert " ".join(p for p in pieces if p) == "Sí."
