"""The embedded Temporal dev server goes when the process that started it goes, even by SIGKILL
(no orphaned server holding its port and database)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG: Linux")

_STARTER = """
import sys, time
from pathlib import Path
from globalvoice.orchestration.devserver import EmbeddedTemporal
server = EmbeddedTemporal(Path(sys.argv[1]))
server.start()
print(server._process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return status not in {"Z", "X"}


def test_the_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(tmp_path / "temporal.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout is not None
        server_pid = int(starter.stdout.readline())
        assert _alive(server_pid)
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(server_pid), "the Temporal dev server outlived its starter"
    finally:
        starter.kill()
        starter.wait()
