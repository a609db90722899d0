"""A placed take's phonemes on the timeline, for the lip-sync stage.

The TTS times the phonemes of its natural take (speed 1, pauses as spoken); the fitting chain
may then have read it faster, shortened its pauses and stretched it. The phonemes' span is mapped
linearly onto the placed audio's speech, found by its energy. A take read at speed 1 whose pauses
were shortened is mapped piecewise instead: each of its pauses is matched to a gap between the
natural phonemes, the speech after it starts where the pause ends and runs at the take's word
tempo, and what would run into the next pause stops at it.

Measured with scratch scripts on 24 Kokoro takes (NTREX-128 rows 46, 54, 67, 74 in es, pt, fr,
it and en, and four p/b sentences), placed at 1000 ms:
- against their natural phoneme times carried through the same cuts and stretch: stretched to
  tempo 1.2, the linear map put phoneme middles 19 ms off on average (87 % within 40 ms); with
  80 % of the pauses' excess over 150 ms cut and tempo 1.1, the linear map was 77 ms off (40 %
  within 40 ms), the piecewise one 28 ms (78 %).
- the closures (p, b) within 40 ms of an energy dip of the placed audio (natural takes: 76 %):
  stretched, 83 % linear and 80 % piecewise; cut, 64 % linear and 71 % piecewise. Through
  `fit_take` itself into slots 1.3x too short, the 11 takes of 4-10 s: read at speed 1 (no
  tts_rate step), 69 % linear and 85 % piecewise (39 closures); read at ~1.15 first, 62 % linear
  and 44 % piecewise (32 closures), the speed-1 times' word tempo not being the faster read's.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.domain.render import FitStepKind, FittedTake, TimedPhoneme
from globalvoice.media.pauses import find_pauses

__all__ = ["place_phonemes", "speech_span"]

_FRAME_MS = 10
_SPEECH_BELOW_PEAK_DB = 40.0  # a frame within this of the loudest frame is speech
_GAP_MS = 50.0  # a gap between natural phonemes this long may be a pause
# Where a placed pause's natural gap may start, from where its speech predicts the pause: a
# little before, or well after (Kokoro lets the phoneme before a pause run into it, up to
# ~250 ms, and the pause itself was longer before it was cut).
_GAP_BEFORE_MS, _GAP_AFTER_MS = 100.0, 500.0
# The speech after the last matched pause must run at about the word tempo, else a pause was
# matched to the wrong gap and the take is mapped linearly.
_TEMPO_TOLERANCE = 0.25


def speech_span(audio: Pcm) -> tuple[float, float] | None:
    """Where speech starts and ends in `audio`, in ms: the first and last 10 ms frames within
    40 dB of its loudest frame. None when it is silent."""
    hop = audio.rate_hz * _FRAME_MS // 1000
    frames = len(audio.samples) // hop if hop else 0
    if frames == 0:
        return None
    blocks = audio.samples[: frames * hop].reshape(frames, hop).astype(np.float64)
    level = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    if level.max() <= -100:
        return None
    loud = np.flatnonzero(level > level.max() - _SPEECH_BELOW_PEAK_DB)
    return float(loud[0] * _FRAME_MS), float((loud[-1] + 1) * _FRAME_MS)


def place_phonemes(natural: Sequence[TimedPhoneme], take: FittedTake) -> tuple[TimedPhoneme, ...]:
    """`natural` (the take's phonemes at speed 1, ms from the natural take's start, in order)
    on the timeline (absolute ms) where `take` plays them."""
    span = speech_span(take.audio)
    if not natural or span is None:
        return ()
    onset, offset = span
    first, last = natural[0].start_ms, max(p.end_ms for p in natural)
    anchors = [_Anchor(natural_ms=first, placed_ms=onset, pause_ms=onset)]
    cut = any(step.kind is FitStepKind.PAUSES for step in take.steps)
    if cut and take.tts_speed_permille == 1000:
        anchors = _pause_anchors(natural, take.audio, anchors[0], 1 / take.tempo, last, offset)
    out = []
    segment = 0
    for phoneme in natural:
        while segment + 1 < len(anchors) and phoneme.start_ms >= anchors[segment + 1].natural_ms:
            segment += 1
        anchor = anchors[segment]
        if segment + 1 < len(anchors):
            limit = anchors[segment + 1].pause_ms
            scale = 1 / take.tempo
        else:
            limit = offset
            scale = (offset - anchor.placed_ms) / max(1.0, last - anchor.natural_ms)
        begin, end = (
            take.start_ms + min(limit, anchor.placed_ms + (ms - anchor.natural_ms) * scale)
            for ms in (phoneme.start_ms, phoneme.end_ms)
        )
        out.append(TimedPhoneme(phoneme.phoneme, begin, end))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Anchor:
    """A natural time played at `placed_ms` (ms into the take): the end of a placed pause that
    starts at `pause_ms`."""

    natural_ms: float
    placed_ms: float
    pause_ms: float


def _pause_anchors(
    natural: Sequence[TimedPhoneme],
    audio: Pcm,
    start: _Anchor,
    word_scale: float,
    last: float,
    offset: float,
) -> list[_Anchor]:
    """The placed pauses' ends matched to the natural gaps they were cut from: for each pause,
    the first gap between phonemes that can hold it, given where the speech before it ends at
    `word_scale` (placed ms per natural ms). Only `start` when a match looks wrong."""
    gaps = [
        (before.end_ms, after.start_ms)
        for before, after in pairwise(natural)
        if after.start_ms - before.end_ms >= _GAP_MS
    ]
    anchors = [start]
    for pause in find_pauses(audio):
        previous = anchors[-1]
        expected = previous.natural_ms + (pause.start_ms - previous.placed_ms) / word_scale
        gap = next(
            (
                (gap_start, gap_end)
                for gap_start, gap_end in gaps
                if gap_end > max(previous.natural_ms, expected)
                and expected - _GAP_BEFORE_MS <= gap_start <= expected + _GAP_AFTER_MS
            ),
            None,
        )
        if gap is not None:
            anchors.append(
                _Anchor(natural_ms=gap[1], placed_ms=float(pause.end_ms), pause_ms=pause.start_ms)
            )
    tail = anchors[-1]
    implied = (offset - tail.placed_ms) / max(1.0, last - tail.natural_ms)
    if abs(implied / word_scale - 1) > _TEMPO_TOLERANCE:
        return [start]
    return anchors
