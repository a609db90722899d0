"""Diarization error rate (DER), for tests and benchmarks.

Method (as NIST md-eval with `-c`): time is scored on a 10 ms grid. Within `collar_ms` of either
side of every reference turn boundary nothing is scored. At each scored instant with N_ref
reference speakers and N_hyp hypothesis speakers (overlaps count both), the error is
max(N_ref, N_hyp) - N_correct, where N_correct counts reference speakers that the hypothesis
also has under the one-to-one speaker mapping that maximises matched time (Hungarian).
DER = sum(error) / sum(N_ref), split into missed speech, false alarm and speaker confusion.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DerScore", "Segment", "der"]

Segment = tuple[int, int, str]  # (start_ms, end_ms, speaker)
_STEP_MS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class DerScore:
    der: float
    missed: float
    false_alarm: float
    confusion: float
    scored_ms: int  # reference speech time scored (overlaps counted per speaker)
    mapping: dict[str, str]  # reference speaker -> hypothesis speaker


def _activity(segments: Sequence[Segment], steps: int) -> tuple[list[str], npt.NDArray[np.bool_]]:
    names = sorted({s for _, _, s in segments})
    grid = np.zeros((len(names), steps), dtype=bool)
    for start, end, speaker in segments:
        grid[names.index(speaker), start // _STEP_MS : -(-end // _STEP_MS)] = True
    return names, grid


def der(
    reference: Sequence[Segment], hypothesis: Sequence[Segment], *, collar_ms: int = 250
) -> DerScore:
    """Score `hypothesis` against `reference`; both are (start_ms, end_ms, speaker) turns."""
    from scipy.optimize import linear_sum_assignment

    end = max((e for _, e, _ in [*reference, *hypothesis]), default=0)
    steps = -(-end // _STEP_MS) + 1
    ref_names, ref = _activity(reference, steps)
    hyp_names, hyp = _activity(hypothesis, steps)
    scored = np.ones(steps, dtype=bool)
    for start, stop, _ in reference:
        for edge in (start, stop):
            scored[max(0, (edge - collar_ms) // _STEP_MS) : -(-(edge + collar_ms) // _STEP_MS)] = (
                False
            )
    ref, hyp = ref[:, scored], hyp[:, scored]
    shared = ref.astype(np.int64) @ hyp.T.astype(np.int64)
    rows, cols = linear_sum_assignment(-shared) if shared.size else ([], [])
    mapping = {ref_names[r]: hyp_names[c] for r, c in zip(rows, cols, strict=True)}
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    correct = np.zeros(ref.shape[1], dtype=np.int64)
    for r, c in zip(rows, cols, strict=True):
        correct += ref[r] & hyp[c]
    total = int(n_ref.sum())
    missed = int(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = int(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = int((np.minimum(n_ref, n_hyp) - correct).sum())
    denominator = max(total, 1)
    return DerScore(
        der=(missed + false_alarm + confusion) / denominator,
        missed=missed / denominator,
        false_alarm=false_alarm / denominator,
        confusion=confusion / denominator,
        scored_ms=total * _STEP_MS,
        mapping=mapping,
    )
