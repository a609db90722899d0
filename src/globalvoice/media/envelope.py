"""Gain envelopes over time spans, ramped in and out (ducking, dips, gates)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DIALOGUE_GATE", "SpanShape", "gain_under", "span_presence"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanShape:
    """How a span's envelope starts and ends: full from `hold_ms` before the span to `hold_ms`
    after it, with linear ramps of `ramp_ms` outside that."""

    ramp_ms: int = 120
    hold_ms: int = 100


# Where a source's dialogue is taken out of its background (pipeline.separate) and where a
# line kept in its own language gets it back (pipeline.output.mix): one shape, so that the two
# add up to the source. Around each line: its breath and its tail.
DIALOGUE_GATE = SpanShape(ramp_ms=80, hold_ms=150)


def gain_under(presence: npt.NDArray[np.float32], gain_db: float) -> npt.NDArray[np.float32]:
    """Per frame: `gain_db` (as a factor) where `presence` is 1, unity where it is 0."""
    return (1 - presence * (1 - 10 ** (gain_db / 20))).astype(np.float32)


def span_presence(
    first_frame: int,
    frames: int,
    spans_ms: Sequence[tuple[int, int]],
    *,
    rate_hz: int,
    shape: SpanShape,
) -> npt.NDArray[np.float32]:
    """Per frame, from frame `first_frame` on: 1 inside a span (held and ramped), 0 away from
    every span, in between on the ramps."""
    ramp, hold = shape.ramp_ms, shape.hold_ms
    times_ms = (first_frame + np.arange(frames)) * 1000 / rate_hz
    presence = np.zeros(frames, dtype=np.float64)
    if not frames:
        return presence.astype(np.float32)
    lo, hi = times_ms[0] - ramp - hold, times_ms[-1] + ramp + hold
    for start, end in spans_ms:
        if end < lo or start > hi:
            continue
        rise = np.clip((times_ms - (start - hold - ramp)) / ramp, 0, 1)
        fall = np.clip(((end + hold + ramp) - times_ms) / ramp, 0, 1)
        presence = np.maximum(presence, np.minimum(rise, fall))
    return presence.astype(np.float32)
