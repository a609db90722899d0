"""`globalvoice prepare` makes the voice bank that the first dub would otherwise spend time on;
`globalvoice doctor` says whether it is ready. Real CLI, real Kokoro, a fresh cache dir."""

import os
import subprocess
import sys
from pathlib import Path


def run_cli(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from globalvoice.cli.main import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "GV_CACHE_DIR": str(cache_dir), "COLUMNS": "200"},
    )


def bank_line(result: subprocess.CompletedProcess[str]) -> str:
    said = result.stdout + result.stderr  # the CLI's console writes to stderr
    return next(line for line in said.splitlines() if "voice bank" in line)


def test_prepare_fills_the_voice_bank_and_doctor_reports_it(tmp_path: Path) -> None:
    before = run_cli(tmp_path, "doctor")
    assert "0/5 shipped voices' reference takes ready" in bank_line(before)
    assert "globalvoice prepare" in bank_line(before)
    prepared = run_cli(tmp_path, "prepare")
    assert prepared.returncode == 0 and "Traceback" not in prepared.stderr, prepared.stderr
    assert "voice bank: 5/5 ready" in bank_line(prepared)
    assert len(list((tmp_path / "voice-bank").rglob("*.npz"))) == 5
    after = run_cli(tmp_path, "doctor")
    assert bank_line(after).startswith("ok") and "5/5" in bank_line(after)
