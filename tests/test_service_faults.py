"""Faults in the running service: a worker killed with -9 mid-synthesis, Temporal restarted mid-dub.

Each scenario runs its own Temporal dev server (a file database) and treats it as an external
cluster; workers are separate `globalvoice worker --queues all` processes sharing the scenario's
data directory (SQLite database and local object store) with this process, which only submits
the dub and watches it. Every disturbed dub must finish with the outputs of an undisturbed one.
"""

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
import soundfile
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError

from globalvoice.config.settings import ServiceSettings, Settings
from globalvoice.media.pcm import decode_audio
from globalvoice.orchestration.devserver import EmbeddedTemporal, free_port
from globalvoice.orchestration.jobs import DubJob
from globalvoice.orchestration.launcher import TemporalLauncher
from globalvoice.orchestration.runtime import ServiceRuntime, open_runtime
from globalvoice.storage.db import repo
from globalvoice.storage.layout import workflow_id
from tests.conftest import concat_audio, video_from_audio

pytestmark = pytest.mark.slow

TARGET = "es"
WAIT_S = 600.0  # a whole dub, generously (the machine is shared)
LOUDNESS_RATE = 48_000


# --- a small cluster: one Temporal dev server, worker processes, a shared data directory ---


@dataclass
class Cluster:
    root: Path
    temporal: EmbeddedTemporal
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "service"

    def settings(self) -> Settings:
        return Settings(
            service=ServiceSettings(data_dir=self.data_dir, temporal_address=self.temporal.address)
        )

    def log(self, name: str) -> Path:
        return self.root / f"worker-{name}.log"

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GV_SERVICE__")}
        env |= {
            "GV_SERVICE__DATA_DIR": str(self.data_dir),
            "GV_SERVICE__TEMPORAL_ADDRESS": self.temporal.address,
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable, "-c", "from globalvoice.cli.main import run; run()",
            "worker", "--queues", "all",
        ]  # fmt: skip
        with self.log(name).open("ab") as log:
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.workers[name] = process
        return process

    def check_workers(self, *names: str) -> None:
        for name in names:
            code = self.workers[name].poll()
            if code is not None:
                raise AssertionError(f"worker {name} exited with {code}")

    def restart_temporal(self, down_s: float) -> float:
        """Stop the dev server, wait, start a new one on the same file and port; seconds down."""
        began = time.monotonic()
        self.temporal.stop()
        time.sleep(down_s)
        self.temporal = EmbeddedTemporal(
            self.temporal.db_file, port=self.temporal.port, log=self.root / "temporal.log"
        )
        self.temporal.start()
        return time.monotonic() - began

    def stop(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.terminate()
        for process in self.workers.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        self.temporal.stop()

    def dump_logs(self) -> None:
        for path in sorted(self.root.glob("*.log")):
            text = path.read_text(errors="replace")
            print(f"----- {path.name} (last 6000 chars) -----\n{text[-6000:]}")  # noqa: T201


@asynccontextmanager
async def cluster(root: Path) -> AsyncIterator[tuple[Cluster, ServiceRuntime]]:
    """A started cluster and this process's runtime (client, launcher, database; no workers)."""
    root.mkdir(parents=True, exist_ok=True)
    temporal = EmbeddedTemporal(root / "temporal.db", port=free_port(), log=root / "temporal.log")
    await asyncio.to_thread(temporal.start)
    found = Cluster(root=root, temporal=temporal)
    try:
        # Migrates the database before any worker opens it (workers do not migrate).
        async with open_runtime(found.settings(), pools=()) as rt:
            yield found, rt
    except BaseException:
        found.dump_logs()
        raise
    finally:
        await asyncio.to_thread(found.stop)


# --- submitting, watching and reading a dub ---


async def submit(rt: ServiceRuntime, video: Path) -> DubJob:
    with rt.sessions.begin() as session:
        tenant = repo.create_tenant(session, "acme")
        upload = repo.create_upload(
            session,
            tenant.id,
            filename=video.name,
            content_type="video/mp4",
            size_bytes=video.stat().st_size,
        )
        rt.store.put_file(upload.object_key, video, "video/mp4")
        repo.mark_upload_stored(session, tenant.id, upload.id)
        dub, _ = repo.create_dub(
            session, tenant.id, repo.NewDub(upload_id=upload.id, target_languages=[TARGET])
        )
        job = DubJob(
            dub_id=dub.id,
            tenant_id=tenant.id,
            upload_key=upload.object_key,
            filename=video.name,
            targets=[TARGET],
        )
    await rt.launcher.start(job)
    return job


def synth_progress(rt: ServiceRuntime, job: DubJob) -> tuple[int, int] | None:
    with rt.sessions() as session:
        dub = repo.get_dub(session, job.tenant_id, job.dub_id)
        assert dub is not None
        entry = dub.progress.get("synthesize", {}).get(TARGET)
    return (int(entry["done"]), int(entry["total"])) if entry else None


async def wait_mid_synthesis(
    rt: ServiceRuntime, job: DubJob, alive: Callable[[], None], timeout_s: float = WAIT_S
) -> tuple[int, int]:
    """Poll the dub's row until synthesis has finished at least one line but not all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive()
        seen = synth_progress(rt, job)
        if seen is not None:
            done, total = seen
            assert done < total, f"synthesis finished before it could be disturbed ({seen})"
            if done >= 1:
                return seen
        await asyncio.sleep(0.1)
    raise AssertionError("synthesis never started")


async def wait_done(client: Client, job: DubJob, address: str) -> tuple[str, int]:
    """The workflow's result; reconnects if the client's calls fail. (result, reconnects)."""
    deadline = time.monotonic() + WAIT_S
    reconnects = 0
    while True:
        launcher = TemporalLauncher(client, queue_prefix="globalvoice")
        try:
            left = max(1.0, deadline - time.monotonic())
            return await asyncio.wait_for(launcher.wait(job.dub_id), timeout=left), reconnects
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)
            client = await Client.connect(address)
            reconnects += 1


@dataclass
class DubOutputs:
    transcript: dict[str, Any]
    translation: list[dict[str, Any]]
    speech: npt.NDArray[np.float32]
    speech_rate: int
    audio_lufs: float
    seconds: float


def read_outputs(rt: ServiceRuntime, job: DubJob, work: Path, seconds: float) -> DubOutputs:
    with rt.sessions() as session:
        dub = repo.get_dub(session, job.tenant_id, job.dub_id)
        assert dub is not None
        assert dub.status == "succeeded"
        keys = {
            (a.language, a.kind): a.object_key
            for a in repo.list_artifacts(session, job.tenant_id, job.dub_id)
        }

    def data(language: str, kind: str) -> bytes:
        found = rt.store.get_bytes(keys[(language, kind)])
        assert found, (language, kind)
        return found

    speech, rate = soundfile.read(io.BytesIO(data(TARGET, "speech_stem")), dtype="float32")
    audio_path = work / "audio.m4a"
    audio_path.write_bytes(data(TARGET, "audio"))
    pcm = decode_audio(audio_path, rate_hz=LOUDNESS_RATE)
    lufs = pyloudnorm.Meter(LOUDNESS_RATE).integrated_loudness(pcm.samples.astype(np.float64))
    return DubOutputs(
        transcript=json.loads(data("en", "transcript")),
        translation=json.loads(data(TARGET, "translation")),
        speech=speech if speech.ndim == 1 else speech.mean(axis=1),
        speech_rate=int(rate),
        audio_lufs=float(lufs),
        seconds=seconds,
    )


@dataclass
class Synthesis:
    """The synthesize activity in the workflow's history (times: Unix seconds, server clock)."""

    attempts: int
    failures: list[str]
    started_at: float
    completed_at: float


async def synthesis(client: Client, job: DubJob) -> Synthesis:
    history: WorkflowHistory = await client.get_workflow_handle(
        workflow_id(job.dub_id)
    ).fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "synthesize"
    }
    found = Synthesis(attempts=0, failures=[], started_at=0.0, completed_at=0.0)
    for event in history.events:
        at = event.event_time.ToMicroseconds() / 1e6
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in scheduled:
                found.attempts = max(found.attempts, started.attempt)
                found.started_at = at
                if started.HasField("last_failure"):
                    found.failures.append(started.last_failure.message)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in scheduled:
                found.completed_at = at
    assert found.completed_at, "synthesize never completed"
    return found


def compare(name: str, got: DubOutputs, want: DubOutputs) -> dict[str, float]:
    assert got.transcript == want.transcript, f"{name}: transcript differs"
    assert [s["text"] for s in got.translation] == [s["text"] for s in want.translation], (
        f"{name}: translation differs"
    )
    assert got.speech_rate == want.speech_rate
    length_diff_ms = abs(len(got.speech) - len(want.speech)) * 1000 / want.speech_rate
    n = min(len(got.speech), len(want.speech))
    a, b = got.speech[:n].astype(np.float64), want.speech[:n].astype(np.float64)
    max_abs = float(np.max(np.abs(a - b)))
    corr = float(np.corrcoef(a, b)[0, 1])
    lufs_diff = abs(got.audio_lufs - want.audio_lufs)
    figures = {
        "translation_json_identical": float(got.translation == want.translation),
        "speech_length_diff_ms": length_diff_ms,
        "speech_max_abs_diff": max_abs,
        "speech_correlation": corr,
        "audio_lufs": got.audio_lufs,
        "audio_lufs_diff": lufs_diff,
        "seconds": got.seconds,
    }
    print(f"FAULTS {name}: {json.dumps(figures)}")  # noqa: T201
    assert length_diff_ms <= 10.0, figures
    assert corr >= 0.9999, figures
    assert max_abs <= 1e-3, figures
    assert lufs_diff <= 0.1, figures
    return figures


def cache_files(data_dir: Path) -> dict[Path, tuple[int, int]]:
    root = data_dir / "objects" / "artifacts"
    return {
        path: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


# --- the scenarios ---


@pytest.fixture(scope="module")
def lj_video(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~30 s of English: the first four LJSpeech clips in a row, as an H.264/AAC video."""
    folder = tmp_path_factory.mktemp("lj4")
    clips = [media / "speech" / "ljspeech" / f"LJ001-000{i}.wav" for i in range(1, 5)]
    return video_from_audio(concat_audio(clips, folder / "lj4.wav"), folder / "lj4.mp4")


@pytest.fixture(scope="module")
def undisturbed(lj_video: Path, tmp_path_factory: pytest.TempPathFactory) -> DubOutputs:
    root = tmp_path_factory.mktemp("undisturbed")

    async def scenario() -> DubOutputs:
        async with cluster(root) as (found, rt):
            began = time.monotonic()
            found.start_worker("only")
            job = await submit(rt, lj_video)
            outcome, _ = await wait_done(rt.client, job, found.temporal.address)
            assert outcome == "succeeded"
            seconds = time.monotonic() - began
            assert (await synthesis(rt.client, job)).attempts == 1
            return read_outputs(rt, job, root, seconds)

    outputs = asyncio.run(scenario())
    print(f"FAULTS undisturbed: {outputs.seconds:.1f} s")  # noqa: T201
    return outputs


def test_worker_killed_mid_synthesis_resumes_on_another(
    lj_video: Path, undisturbed: DubOutputs, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path / "kill") as (found, rt):
            began = time.monotonic()
            worker_a = found.start_worker("a")
            job = await submit(rt, lj_video)
            progress = await wait_mid_synthesis(rt, job, lambda: found.check_workers("a"))
            os.kill(worker_a.pid, signal.SIGKILL)
            killed, killed_at = time.monotonic(), time.time()
            assert worker_a.wait(timeout=30) == -signal.SIGKILL
            before = cache_files(found.data_dir)
            found.start_worker("b")
            outcome, _ = await wait_done(rt.client, job, found.temporal.address)
            assert outcome == "succeeded"
            recovered = time.monotonic() - killed
            found.check_workers("b")

            # Synthesis really was interrupted: its second attempt finished it.
            synth = await synthesis(rt.client, job)
            assert synth.attempts >= 2, synth
            assert any("heartbeat" in f.lower() for f in synth.failures), synth
            assert synth.completed_at > killed_at
            # Worker B reused the lines A had finished: none of their cached entries was
            # rewritten (writes are atomic renames: a rewrite changes the inode). A fitted take
            # is its .npz plus a .json; the .json comes last, so an .npz without one may be the
            # take A was writing when it died, the only entry B may write again.
            after = cache_files(found.data_dir)
            rewritten = {p.name for p, v in before.items() if after.get(p) != v}
            paired = {p for p in before if p.suffix == ".json" or p.with_suffix(".json") in before}
            assert not {p.name for p in paired} & rewritten, rewritten
            assert len(rewritten) <= 1, rewritten
            assert len(after) > len(before)  # B synthesized the remaining lines

            outputs = read_outputs(rt, job, tmp_path, time.monotonic() - began)
            figures = compare("kill", outputs, undisturbed)
            print(  # noqa: T201
                f"FAULTS kill: killed at synthesize {progress[0]}/{progress[1]} lines; "
                f"dub done {recovered:.1f} s after the kill (synthesize attempt "
                f"{synth.attempts} started {synth.started_at - killed_at:.1f} s and completed "
                f"{synth.completed_at - killed_at:.1f} s after it); "
                f"cache entries at kill {len(before)}, after {len(after)}; "
                f"total {figures['seconds']:.1f} s vs undisturbed {undisturbed.seconds:.1f} s"
            )

    asyncio.run(scenario())


def test_temporal_restarted_mid_dub_completes(
    lj_video: Path, undisturbed: DubOutputs, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path / "restart") as (found, rt):
            began = time.monotonic()
            found.start_worker("only")
            job = await submit(rt, lj_video)
            progress = await wait_mid_synthesis(rt, job, lambda: found.check_workers("only"))
            # This process is already waiting on the workflow (a long poll) when the server goes.
            waiting = asyncio.create_task(wait_done(rt.client, job, found.temporal.address))
            await asyncio.sleep(0.5)
            stopped_at = time.time()
            down_s = await asyncio.to_thread(found.restart_temporal, 2.0)
            restarted = time.monotonic()
            outcome, reconnects = await waiting
            assert outcome == "succeeded"
            after_restart = time.monotonic() - restarted
            found.check_workers("only")
            # The activity was in flight when the server stopped, and its completion was recorded
            # afterwards: by the restarted server, since the old one was down from stopped_at.
            # (Not "after restarted_at": that is read once start() returned, and a fast worker's
            # completion can land between the port opening and that moment.)
            synth = await synthesis(rt.client, job)
            assert synth.started_at < stopped_at < synth.completed_at, synth
            assert synth.attempts == 1, synth  # the same worker's attempt survived the restart
            outputs = read_outputs(rt, job, tmp_path, time.monotonic() - began)
            figures = compare("restart", outputs, undisturbed)
            print(  # noqa: T201
                f"FAULTS restart: restarted at synthesize {progress[0]}/{progress[1]} lines; "
                f"server down {down_s:.1f} s; done {after_restart:.1f} s after the restart; "
                f"client reconnects {reconnects}; synthesize attempts {synth.attempts} "
                f"{synth.failures}; "
                f"total {figures['seconds']:.1f} s vs undisturbed {undisturbed.seconds:.1f} s"
            )

    asyncio.run(scenario())
