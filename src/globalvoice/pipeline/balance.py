"""A sentence's translation shared out onto its lines by the time each share takes to say.

A sentence spread over several lines is translated whole and first split in proportion to the
lines' durations (pipeline/sentences.py), which knows nothing of the voice: one share may take
far longer to say than its neighbour in the same time, and since every line starts at its
source line's start, spare time in one line cannot help the next. Once the voice is known,
`balance_shares` moves the cuts (between words) until every line needs about the same share of
its time budget, keeping a clause mark as a cut only where that costs little. It is used by the
fitting chain's candidate step (pipeline/choose.py) only when the plain split does not fit.
"""

from collections.abc import Callable, Sequence

from globalvoice.pipeline.sentences import split_translation

__all__ = ["BALANCE_ROUNDS", "Shares", "balance_shares", "worst_load"]

BALANCE_ROUNDS = 3
_PUNCTUATION_WINDOW = 0.04  # a clause mark this close (share of the text) may take the cut
Shares = tuple[str, ...]


def worst_load(
    shares: Sequence[str], budgets_ms: Sequence[int], estimate_ms: Callable[[str], int]
) -> float:
    """The largest share of its budget any line's text needs (1.0: exactly fills it)."""
    return max(
        (estimate_ms(text) if text.strip() else 0) / max(1, budget)
        for text, budget in zip(shares, budgets_ms, strict=True)
    )


def balance_shares(
    shares: Sequence[str], budgets_ms: Sequence[int], estimate_ms: Callable[[str], int]
) -> Shares:
    """`shares` (one sentence's text over its lines) re-cut so that the line that needs the
    most of its budget needs as little as possible; the original shares when no re-cut is
    better. `estimate_ms` is the voice's predicted duration of a text.

    Each round cuts the text in proportion to budget / speaking time per character, measured
    on the previous round's shares, so dense words (numbers, long compounds) count for more."""
    text = " ".join(s.strip() for s in shares if s.strip())
    best = tuple(shares)
    best_load = worst_load(best, budgets_ms, estimate_ms)
    weights = [float(max(1, b)) for b in budgets_ms]
    for _ in range(BALANCE_ROUNDS):
        cut = tuple(split_translation(text, weights, punctuation_window=_PUNCTUATION_WINDOW))
        spoken = [estimate_ms(piece) if piece.strip() else 0 for piece in cut]
        load = max(ms / max(1, b) for ms, b in zip(spoken, budgets_ms, strict=True))
        if load < best_load:
            best, best_load = cut, load
        # ms per character of each share: the next cut gives each line budget / that
        weights = [
            max(1, b) * len(piece) / ms if ms and piece else w
            for b, piece, ms, w in zip(budgets_ms, cut, spoken, weights, strict=True)
        ]
    return best
