"""Reference audio for a speaker's voice profile: clean stretches of their own speech.

From the speaker's turns (or lines, without a diarization): overlapping speech is cut out, the
`edge_ms` next to another speaker's turn are dropped, spans shorter than `min_span_ms` or far
quieter than the speaker's loudest (or clipped) are skipped, and the longest remaining spans are
kept up to `max_total_ms`, in time order.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization

__all__ = ["ReferencePolicy", "reference_spans"]

Span = tuple[int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferencePolicy:
    max_total_ms: int = 30_000
    max_span_ms: int = 12_000  # a long turn is cut, so several parts of the video are heard
    min_span_ms: int = 1_000
    edge_ms: int = 300  # kept away from a change of speaker
    change_gap_ms: int = 1_000  # another speaker's turn this close counts as a change
    quiet_db: float = 15.0  # spans this much quieter than the speaker's loudest are skipped
    clip_share: float = 0.001  # share of samples at full scale that marks a span clipped


def _speaker_spans(
    speaker_id: str, lines: Sequence[Line], diarization: Diarization | None
) -> list[Span]:
    if diarization is not None and diarization.turns_of(speaker_id):
        return [(t.start_ms, t.end_ms) for t in diarization.turns_of(speaker_id)]
    return [(ln.start_ms, ln.end_ms) for ln in lines if ln.speaker_id == speaker_id]


def _others(speaker_id: str, lines: Sequence[Line], diarization: Diarization | None) -> list[Span]:
    if diarization is not None and diarization.turns:
        return [(t.start_ms, t.end_ms) for t in diarization.turns if t.speaker_id != speaker_id]
    return [(ln.start_ms, ln.end_ms) for ln in lines if ln.speaker_id != speaker_id]


def _minus(span: Span, holes: Sequence[Span]) -> list[Span]:
    parts = [span]
    for hole_start, hole_end in holes:
        kept: list[Span] = []
        for start, end in parts:
            if hole_end <= start or hole_start >= end:
                kept.append((start, end))
                continue
            if hole_start > start:
                kept.append((start, hole_start))
            if hole_end < end:
                kept.append((hole_end, end))
        parts = kept
    return parts


def _trim(span: Span, others: Sequence[Span], policy: ReferencePolicy) -> Span:
    """Drop `edge_ms` at each end that meets another speaker within `change_gap_ms`."""
    start, end = span
    if any(0 <= start - o_end <= policy.change_gap_ms for _, o_end in others):
        start += policy.edge_ms
    if any(0 <= o_start - end <= policy.change_gap_ms for o_start, _ in others):
        end -= policy.edge_ms
    return start, end


def _pieces(span: Span, policy: ReferencePolicy) -> list[Span]:
    start, end = span
    count = -(-(end - start) // policy.max_span_ms)
    bounds = np.linspace(start, end, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _level_db(audio: Pcm, span: Span) -> tuple[float, float]:
    """RMS level (dBFS) and the share of clipped samples."""
    samples = audio.slice_ms(*span).samples.astype(np.float64)
    if not len(samples):
        return -120.0, 0.0
    rms = float(np.sqrt(np.mean(samples**2)))
    return 20 * np.log10(max(rms, 1e-6)), float(np.mean(np.abs(samples) >= 0.999))


def reference_spans(
    audio: Pcm,
    speaker_id: str,
    *,
    lines: Sequence[Line],
    diarization: Diarization | None,
    policy: ReferencePolicy = ReferencePolicy(),
) -> tuple[Span, ...]:
    """The speaker's clean reference spans (ms, source timeline), longest first chosen."""
    others = _others(speaker_id, lines, diarization)
    overlaps = [(o.start_ms, o.end_ms) for o in diarization.overlaps] if diarization else []
    candidates: list[Span] = []
    for span in _speaker_spans(speaker_id, lines, diarization):
        for part in _minus(_trim(span, others, policy), overlaps):
            if part[1] - part[0] >= policy.min_span_ms:
                candidates += _pieces(part, policy)
    if not candidates:  # only short speech: the longest of it, untrimmed
        candidates = [s for s in _speaker_spans(speaker_id, lines, diarization) if s[1] > s[0]]
    levels = {span: _level_db(audio, span) for span in candidates}
    loudest = max((db for db, _ in levels.values()), default=-120.0)
    good = [
        s
        for s in candidates
        if levels[s][0] >= loudest - policy.quiet_db and levels[s][1] <= policy.clip_share
    ]
    good.sort(key=lambda s: (s[0] - s[1], s[0]))  # longest first; earliest among equals
    chosen: list[Span] = []
    total = 0
    for span in good:
        if total >= policy.max_total_ms:
            break
        chosen.append(span)
        total += span[1] - span[0]
    return tuple(sorted(chosen))
