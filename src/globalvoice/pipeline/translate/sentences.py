"""Whole sentences for translation, and their translations mapped back onto the lines' slots.

A sentence cut into several lines (at a pause or at the maximum line length) is translated as
one text, so the engine sees the whole thought; the translation is then divided among the lines
in proportion to their slots, at word boundaries, preferring a punctuation mark near each cut.
"""

from collections.abc import Sequence
from itertools import pairwise

from globalvoice.domain.script import Line

__all__ = ["group_sentences", "split_translation"]

_SENTENCE_END = (".", "!", "?", "\u2026", "\u3002", "\uff01", "\uff1f")  # ... and CJK . ! ?
_CLAUSE_MARKS = (",", ";", ":", "\u2014", "\u2013")  # and em/en dashes
_MAX_JOIN_GAP_MS = 2_000  # a longer pause starts a new thought even without punctuation
_PUNCTUATION_WINDOW = 0.15  # look this far (share of the text) around a cut for a comma


def group_sentences(lines: Sequence[Line]) -> list[list[int]]:
    """Indexes of `lines` grouped into sentences: consecutive lines of one speaker and language
    where the earlier line does not end a sentence and the pause between them is short."""
    groups: list[list[int]] = []
    for index, line in enumerate(lines):
        if groups:
            previous = lines[groups[-1][-1]]
            joined = (
                previous.speaker_id == line.speaker_id
                and previous.language == line.language
                and not previous.text.rstrip().endswith(_SENTENCE_END)
                and line.start_ms - previous.end_ms <= _MAX_JOIN_GAP_MS
            )
            if joined:
                groups[-1].append(index)
                continue
        groups.append([index])
    return groups


def _cut_points(text: str) -> list[int]:
    """Positions where a cut may fall: just after each space-separated word."""
    return [i + 1 for i, char in enumerate(text) if char == " "]


def split_translation(
    text: str, weights: Sequence[float], *, punctuation_window: float = _PUNCTUATION_WINDOW
) -> list[str]:
    """`text` in len(weights) consecutive pieces, sized in proportion to `weights`.

    Cuts fall between words; a punctuation mark within `punctuation_window` (a share of the
    text's length) of the proportional position wins. A piece may be empty only when the text
    has fewer words than pieces.
    """
    if len(weights) <= 1:
        return [text.strip()]
    total = sum(weights) or float(len(weights))
    cuts = _cut_points(text)
    chosen: list[int] = []
    running = 0.0
    for weight in weights[:-1]:
        running += weight
        ideal = len(text) * running / total
        options = [c for c in cuts if (not chosen or c > chosen[-1])]
        if not options:
            chosen.append(chosen[-1] if chosen else 0)
            continue
        reach = punctuation_window * len(text)
        marked = [
            c
            for c in options
            if abs(c - ideal) <= reach and text[:c].rstrip().endswith(_CLAUSE_MARKS + _SENTENCE_END)
        ]
        pool = marked or options
        chosen.append(min(pool, key=lambda c: abs(c - ideal)))
    bounds = [0, *chosen, len(text)]
    return [text[a:b].strip() for a, b in pairwise(bounds)]
