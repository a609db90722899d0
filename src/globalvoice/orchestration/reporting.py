"""Progress from inside an activity: live events, the dub's database row, Temporal heartbeats."""

import contextvars
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from temporalio import activity
from temporalio.exceptions import CancelledError

from globalvoice.domain.progress import StageProgress
from globalvoice.orchestration.context import WorkerContext
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import DubStatus

__all__ = ["ActivityReporter", "StageHeartbeat", "keep_alive", "publish_status"]

_DB_EVERY_S = 1.0


class ActivityReporter:
    """A ProgressSink: events go out live; the database row is updated at most once a second."""

    def __init__(self, ctx: WorkerContext, dub_id: str) -> None:
        self._ctx = ctx
        self._dub_id = dub_id
        self._last_db = 0.0
        self._pending: dict[str, dict[str, Any]] = {}

    def __call__(self, event: StageProgress) -> None:
        if activity.is_cancelled():  # the dub was cancelled: stop between two units of work
            raise CancelledError("the dub was cancelled")
        key = f"{event.stage}:{event.language}" if event.language else event.stage
        entry = {
            "stage": event.stage,
            "language": event.language,
            "done": event.done,
            "total": event.total,
        }
        self._ctx.events.publish(self._dub_id, {"type": "progress", **entry})
        self._pending[key] = entry
        now = time.monotonic()
        if now - self._last_db >= _DB_EVERY_S or event.done >= event.total:
            self.flush()
            self._last_db = now

    def flush(self) -> None:
        if not self._pending:
            return
        with self._ctx.sessions.begin() as session:
            for entry in self._pending.values():
                repo.update_dub_progress(
                    session,
                    self._dub_id,
                    entry["stage"],
                    entry["language"] or "",
                    done=entry["done"],
                    total=entry["total"],
                )
        self._pending = {}


def publish_status(ctx: WorkerContext, dub_id: str, status: DubStatus, **fields: Any) -> None:
    """Record the dub's status in the database, then announce it."""
    with ctx.sessions.begin() as session:
        repo.update_dub_status(session, dub_id, status, **fields)
    ctx.events.publish(dub_id, {"type": "status", "status": status, **fields})


class StageHeartbeat:
    """A ProgressSink for a stage that works in resumable units (the lipsync stage's blocks):
    events go to the reporter, and each unit done is a heartbeat whose details are the units
    done so far (what a retry finds in `activity.info().heartbeat_details`)."""

    def __init__(self, reporter: ActivityReporter, stage: str) -> None:
        self._reporter, self._stage = reporter, stage
        previous = activity.info().heartbeat_details
        self.done = int(previous[0]) if previous else 0

    def __call__(self, event: StageProgress) -> None:
        self._reporter(event)
        if event.stage == self._stage:
            self.done = event.done
            activity.heartbeat(self.done)

    def details(self) -> tuple[int]:
        return (self.done,)

    def flush(self) -> None:
        self._reporter.flush()


@contextmanager
def keep_alive(
    every_s: float = 2.0, details: Callable[[], Sequence[Any]] = tuple
) -> Iterator[None]:
    """Heartbeat from a side thread while the activity works (model loads report no progress),
    each beat with `details()` (the last progress a retry resumes from, if the step keeps any).

    The worker that runs the activity is alive while this beats; if it dies, the heartbeat
    timeout hands the activity to another worker, which resumes from the cached lines.
    """
    stop = threading.Event()
    context = contextvars.copy_context()  # activity.heartbeat finds its activity here

    def beat() -> None:
        while not stop.wait(every_s):
            activity.heartbeat(*details())

    thread = threading.Thread(target=context.run, args=(beat,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
