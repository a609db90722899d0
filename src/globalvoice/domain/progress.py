"""Progress is an event, not a log line. Stages report it through a ProgressSink."""

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["NO_PROGRESS", "ProgressSink", "StageProgress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageProgress:
    stage: str
    done: int
    total: int
    language: str | None = None


ProgressSink = Callable[[StageProgress], None]


def _ignore(_event: StageProgress) -> None:
    return None


NO_PROGRESS: ProgressSink = _ignore
