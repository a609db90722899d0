"""`globalvoice prepare` makes the voice bank that the first dub would otherwise spend time on;
`globalvoice doctor` says whether it is ready. Real CLI, real Kokoro, a fresh cache dir."""

import subprocess
from pathlib import Path

from tests.conftest import run_cli


def run_in(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"GV_CACHE_DIR": str(cache_dir), "COLUMNS": "200"}, timeout=600)


def bank_line(result: subprocess.CompletedProcess[str]) -> str:
    said = result.stdout + result.stderr  # the CLI's console writes to stderr
    return next(line for line in said.splitlines() if "voice bank" in line)


def test_prepare_fills_the_voice_bank_and_doctor_reports_it(tmp_path: Path) -> None:
    before = run_in(tmp_path, "doctor")
    assert "0/5 shipped voices' reference takes ready" in bank_line(before)
    assert "globalvoice prepare" in bank_line(before)
    prepared = run_in(tmp_path, "prepare")
    assert prepared.returncode == 0 and "Traceback" not in prepared.stderr, prepared.stderr
    assert "voice bank: 5/5 ready" in bank_line(prepared)
    assert len(list((tmp_path / "voice-bank").rglob("*.npz"))) == 5
    after = run_in(tmp_path, "doctor")
    assert bank_line(after).startswith("ok") and "5/5" in bank_line(after)
