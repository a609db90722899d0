"""A sentence's translation shared out onto its lines by the time each share takes to say.

A sentence spread over several lines is translated whole and first split in proportion to the
lines' durations (pipeline/sentences.py), which knows nothing of the voice: one share may take
far longer to say than its neighbour in the same time, and since every line starts at its
source line's start, spare time in one line cannot help the next. Once the voice is known,
`balance_shares` moves the cuts (between words) until every line needs about the same share of
its time budget, keeping a clause mark as a cut only where that costs little, then moves single
words across the cuts while that lowers the most loaded line's need (the proportional cut can
land a word or two off, which matters most for a short line). It is used by the fitting chain's
candidate step (pipeline/choose.py) only when the plain split does not fit.
"""

from collections.abc import Callable, Sequence

from globalvoice.pipeline.translate.sentences import split_translation

__all__ = ["BALANCE_ROUNDS", "MAX_WORD_MOVES", "Shares", "balance_shares", "worst_load"]

BALANCE_ROUNDS = 3
MAX_WORD_MOVES = 8
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
    return _move_words(best, budgets_ms, estimate_ms)


def _move_words(
    shares: Shares, budgets_ms: Sequence[int], estimate_ms: Callable[[str], int]
) -> Shares:
    """Move one word at a time off the most loaded line onto a neighbour, while that lowers
    the worst load and some line is still over its budget (at most `MAX_WORD_MOVES` moves; a
    line with words keeps at least one)."""
    said: dict[str, int] = {}

    def load(words: Sequence[str], budget: int) -> float:
        text = " ".join(words)
        if text not in said:
            said[text] = estimate_ms(text) if words else 0
        return said[text] / max(1, budget)

    pieces = [share.split() for share in shares]
    loads = [load(words, budget) for words, budget in zip(pieces, budgets_ms, strict=True)]
    start = max(loads)
    for _ in range(MAX_WORD_MOVES):
        worst = max(range(len(pieces)), key=lambda i: loads[i])
        if loads[worst] <= 1.0 or len(pieces[worst]) < 2:
            break
        best: tuple[float, int, list[str], list[str], list[float]] | None = None
        for neighbour in (worst - 1, worst + 1):
            if not 0 <= neighbour < len(pieces) or not pieces[neighbour]:
                continue
            words, other = pieces[worst], pieces[neighbour]
            if neighbour < worst:
                kept, given = words[1:], [*other, words[0]]
            else:
                kept, given = words[:-1], [words[-1], *other]
            after = list(loads)
            after[worst] = load(kept, budgets_ms[worst])
            after[neighbour] = load(given, budgets_ms[neighbour])
            if best is None or max(after) < best[0]:
                best = (max(after), neighbour, kept, given, after)
        if best is None or best[0] >= loads[worst]:
            break
        _, neighbour, pieces[worst], pieces[neighbour], loads = best
    moved = tuple(" ".join(words) for words in pieces)
    return moved if max(loads) < start else shares
