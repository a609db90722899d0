"""Pauses inside a take, and shortening them without touching the words.

A voice reading a long sentence stops at every comma (Kokoro: 400-460 ms). A dubbing editor
tightens such pauses before asking the actor to speak faster; `tighten_pauses` does the same:
the longest pauses first, each down to a floor, cut from its middle with short fades, so the
words keep their natural rate.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from globalvoice.domain.audio import Pcm

__all__ = ["PAUSE_FRAME_MS", "Pause", "find_pauses", "pause_excess_ms", "tighten_pauses"]

PAUSE_FRAME_MS = 10  # pauses are found, and cut, in whole frames of this length
_SILENCE_BELOW_PEAK_DB = 40.0  # a frame this far under the take's loudest frame is silent
_ABOVE_FLOOR_DB = 6.0
_MIN_PAUSE_MS = 100
_FADE_MS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def find_pauses(audio: Pcm) -> list[Pause]:
    """Silent runs of at least 100 ms between words (not the take's lead-in or tail)."""
    hop = audio.rate_hz * PAUSE_FRAME_MS // 1000
    frames = len(audio.samples) // hop
    if frames == 0:
        return []
    blocks = audio.samples[: frames * hop].reshape(frames, hop).astype(np.float64)
    level = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    # silent: far under the loudest frame, or (a recording with background noise) near its floor
    threshold = max(level.max() - _SILENCE_BELOW_PEAK_DB, np.percentile(level, 5) + _ABOVE_FLOOR_DB)
    silent = level < threshold
    voiced = np.flatnonzero(~silent)
    if len(voiced) == 0:
        return []
    pauses: list[Pause] = []
    start: int | None = None
    for index in range(int(voiced[0]), int(voiced[-1]) + 1):
        if silent[index] and start is None:
            start = index
        elif not silent[index] and start is not None:
            if (index - start) * PAUSE_FRAME_MS >= _MIN_PAUSE_MS:
                pauses.append(Pause(start_ms=start * PAUSE_FRAME_MS, end_ms=index * PAUSE_FRAME_MS))
            start = None
    return pauses


def pause_excess_ms(pauses_ms: Iterable[float], *, floor_ms: int) -> float:
    """How much `tighten_pauses` could take out of pauses this long: each one's length beyond
    `floor_ms`."""
    return sum(max(0.0, ms - floor_ms) for ms in pauses_ms)


def tighten_pauses(audio: Pcm, *, remove_ms: int, floor_ms: int) -> tuple[Pcm, int]:
    """`audio` with up to `remove_ms` taken out of its pauses, longest pauses first, none left
    shorter than `floor_ms`; returns it and the milliseconds actually removed."""
    pauses = sorted(find_pauses(audio), key=lambda p: -p.duration_ms)
    cuts: list[tuple[int, int]] = []  # (start, end) in ms of what to take out
    left = remove_ms
    for pause in pauses:
        spare = min(pause.duration_ms - floor_ms, left)
        if spare < PAUSE_FRAME_MS:
            continue
        middle = (pause.start_ms + pause.end_ms) // 2
        cuts.append((middle - spare // 2, middle - spare // 2 + spare))
        left -= spare
    if not cuts:
        return audio, 0
    rate = audio.rate_hz
    fade = np.linspace(0.0, 1.0, rate * _FADE_MS // 1000, dtype=np.float32)
    bounds = [0]
    for start_ms, end_ms in sorted(cuts):
        bounds += [start_ms * rate // 1000, end_ms * rate // 1000]
    bounds.append(len(audio.samples))
    pieces = []
    for index in range(0, len(bounds), 2):
        piece = audio.samples[bounds[index] : bounds[index + 1]].copy()
        # every cut falls in silence: the fades only guard against clicks
        if index > 0 and len(piece):
            piece[: len(fade)] *= fade[: len(piece)]
        if index + 2 < len(bounds) and len(piece):
            piece[-len(fade) :] *= fade[::-1][-len(piece) :]
        pieces.append(piece)
    samples = np.concatenate(pieces).astype(np.float32)
    removed = round((len(audio.samples) - len(samples)) * 1000 / rate)
    return Pcm(samples=samples, rate_hz=rate), removed
