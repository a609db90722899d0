"""Mapping times in speech-only audio (VAD spans glued together) back to the source timeline."""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from globalvoice.domain.transcript import SpeechSpan

__all__ = ["TimeMap"]


@dataclass(frozen=True, slots=True)
class TimeMap:
    """`spans` are the source spans that were concatenated, in order."""

    spans: tuple[SpeechSpan, ...]

    @classmethod
    def of(cls, spans: Sequence[SpeechSpan]) -> "TimeMap":
        return cls(tuple(spans))

    def _offsets(self) -> list[int]:
        offsets, total = [], 0
        for span in self.spans:
            offsets.append(total)
            total += span.end_ms - span.start_ms
        return offsets

    def to_source(self, glued_ms: int, *, is_end: bool = False) -> int:
        """Source time of a time in the glued audio. An end time at a join stays in its span."""
        if not self.spans:
            return glued_ms
        offsets = self._offsets()
        find = bisect.bisect_left if is_end else bisect.bisect_right
        index = max(0, find(offsets, glued_ms) - 1)
        span = self.spans[index]
        return min(span.end_ms, span.start_ms + max(0, glued_ms - offsets[index]))
