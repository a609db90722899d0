"""Wall and CPU time per stage, including the CPU of child processes (ffmpeg, apertium)."""

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["StageClock", "StageTime"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTime:
    stage: str
    language: str | None
    wall_s: float
    cpu_s: float


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class StageClock:
    times: list[StageTime] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, language: str | None = None) -> Iterator[None]:
        wall, cpu = time.perf_counter(), _cpu_s()
        try:
            yield
        finally:
            self.times.append(
                StageTime(
                    stage=name,
                    language=language,
                    wall_s=round(time.perf_counter() - wall, 3),
                    cpu_s=round(_cpu_s() - cpu, 3),
                )
            )
