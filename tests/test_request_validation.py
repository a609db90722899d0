"""One validated request (issue 16): every bad option, odd file name and oversized input of the
issue, through the real CLI (one line, exit 2, no traceback, nothing written) and the API
(`{"error": {"code", "message"}}`, no dub row, nothing started).

The two big inputs (a 10 h silent FLAC, a 2 GiB sparse WAV) must be refused from the probe:
under 2 s and under 300 MB for the whole `globalvoice dub` process.
"""

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from globalvoice.dubbing.request import output_stem
from globalvoice.storage.db import repo
from tests.conftest import ApiHarness, ffmpeg

TOO_LONG_FIX = (
    "Split it into shorter parts, or raise the limit with GV_LIMITS__MAX_DURATION_S (seconds)."
)
LONG_NAME = "x" * 246 + ".mp4"  # 250 characters
_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=False)
wall_s = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(done.stderr)
print(done.returncode, wall_s, peak_kb)
"""


class CliRun:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        code, wall_s, peak_kb = done.stdout.split()
        self.returncode, self.wall_s, self.peak_mb = int(code), float(wall_s), int(peak_kb) / 1024
        self.stderr = done.stderr


def dub(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliRun:
    """`globalvoice dub ARGS` in a child process, with its wall time and peak memory (measured
    by a parent of its own, so no other process of the test run counts)."""
    cli = [sys.executable, "-c", "from globalvoice.cli.main import run; run()", "dub", *args]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cli],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return CliRun(done)


def assert_refused(run: CliRun, line: str) -> None:
    """Exactly one line on stderr, `line`; exit 2."""
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [line]
    assert run.returncode == 2


def sparse_wav(path: Path, data_bytes: int = 2 << 30) -> Path:
    """A RIFF/WAVE header declaring `data_bytes` of 16 kHz mono 16-bit PCM (2 GiB: 18.6 h),
    the rest a hole: the file holds nothing on disk."""
    rate, channels, bits = 16_000, 1, 16
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * bits // 8, 2, bits)
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes)
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + data_bytes)
    return path


@pytest.fixture(scope="session")
def silent_10h_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 hours of 8 kHz silence as FLAC: about 4 MB."""
    out = tmp_path_factory.mktemp("long") / "silence.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "36000", "-c:a", "flac", str(out))
    return out


# ------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-tempo", "0"], "--max-tempo must be between 1.0 and 2.0 (got 0.0)"),
        (["--max-tempo", "-1"], "--max-tempo must be between 1.0 and 2.0 (got -1.0)"),
        (["--max-tempo", "nan"], "--max-tempo must be between 1.0 and 2.0 (got nan)"),
        (["--loudness", "1000"], "--loudness must be between -40.0 and -5.0 (got 1000.0)"),
        (["--loudness", "nan"], "--loudness must be between -40.0 and -5.0 (got nan)"),
        (["--loudness", "inf"], "--loudness must be between -40.0 and -5.0 (got inf)"),
        (["--speakers", "0"], "--speakers must be a whole number between 1 and 20 (got 0)"),
        (["--separation", "yes"], "--separation Input should be 'auto', 'on' or 'off'"),
        (["--lipsync", "always"], "--lipsync Input should be 'auto', 'on' or 'off'"),
    ],
    ids=[
        "tempo-0",
        "tempo-neg",
        "tempo-nan",
        "loud-1000",
        "loud-nan",
        "loud-inf",
        "speakers-0",
        "separation-yes",
        "lipsync-always",
    ],
)
def test_cli_bad_option_is_one_line_before_any_work(
    tmp_path: Path, speech_clip: Path, flags: list[str], message: str
) -> None:
    run = dub(str(speech_clip), "--to", "es", "--out", "out", *flags, cwd=tmp_path)
    assert_refused(run, f"error (input.invalid): {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", [".hidden.mp4", LONG_NAME, "take:2.mp4"])
def test_cli_odd_names_are_files_that_get_past_the_probe(
    tmp_path: Path, speech_clip: Path, name: str
) -> None:
    """Each is read as media (a limit below its 11 s stops it right after the probe): no
    "corrupt", no protocol, no traceback; its default output folder is never made."""
    shutil.copy(speech_clip, tmp_path / name)
    run = dub(name, "--to", "es", cwd=tmp_path, env={"GV_LIMITS__MAX_DURATION_S": "5"})
    assert_refused(
        run,
        f"error (input.too_long): {name} lasts 11.0 s; inputs may last at most 5.0 s. "
        + TOO_LONG_FIX,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_cli_dotdot_is_not_a_file(tmp_path: Path) -> None:
    run = dub("..", "--to", "es", cwd=tmp_path)
    assert_refused(
        run, "error (media.unreadable): .. is not a regular file: give a video or audio file."
    )


def test_cli_too_many_targets(tmp_path: Path, speech_clip: Path) -> None:
    run = dub(
        str(speech_clip), "--to", "es,pt,fr", cwd=tmp_path, env={"GV_LIMITS__MAX_TARGETS": "2"}
    )
    assert_refused(
        run,
        "error (input.too_many_targets): 3 target languages asked for; a dub may have at most "
        "2. Split them over several dubs, or raise the limit with GV_LIMITS__MAX_TARGETS.",
    )


def test_cli_refuses_10h_flac_from_the_probe(tmp_path: Path, silent_10h_flac: Path) -> None:
    run = dub(str(silent_10h_flac), "--to", "es", "--out", "out", cwd=tmp_path)
    assert_refused(
        run,
        "error (input.too_long): silence.flac lasts 10.0 h; inputs may last at most 4.0 h. "
        + TOO_LONG_FIX,
    )
    print(f"\n10 h FLAC refused in {run.wall_s:.2f} s, peak {run.peak_mb:.0f} MB")  # noqa: T201
    assert run.wall_s < 2.0 and run.peak_mb < 300
    assert not (tmp_path / "out").exists()


def test_cli_refuses_2gib_sparse_wav_from_the_probe(tmp_path: Path) -> None:
    wav = sparse_wav(tmp_path / "big.wav")
    run = dub(str(wav), "--to", "es", cwd=tmp_path)
    assert_refused(
        run,
        "error (input.too_long): big.wav lasts 18.6 h; inputs may last at most 4.0 h. "
        + TOO_LONG_FIX,
    )
    print(f"\n2 GiB sparse WAV refused in {run.wall_s:.2f} s, peak {run.peak_mb:.0f} MB")  # noqa: T201
    assert run.wall_s < 2.0 and run.peak_mb < 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.wav"]  # no big.dub, no copy


# ------------------------------------------------------------------------------------- API


def post_dub(api: ApiHarness, body: str | dict[str, object]) -> object:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {**api.a.headers, "Content-Type": "application/json"}
    return api.client.post("/v1/dubs", content=content, headers=headers)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('{"max_tempo": 0.0}', "max_tempo: must be between 1.0 and 2.0 (got 0.0)"),
        ('{"max_tempo": -1}', "max_tempo: must be between 1.0 and 2.0 (got -1)"),
        ('{"loudness_lufs": 1000}', "loudness_lufs: must be between -40.0 and -5.0 (got 1000)"),
        ('{"loudness_lufs": NaN}', "loudness_lufs: must be between -40.0 and -5.0 (got nan)"),
        ('{"loudness_lufs": 1e999}', "loudness_lufs: must be between -40.0 and -5.0 (got inf)"),
        ('{"max_tempo": "fast"}', "max_tempo: must be between 1.0 and 2.0 (got 'fast')"),
        ('{"speakers": 0}', "speakers: must be a whole number between 1 and 20 (got 0)"),
        ('{"tempo": 1.2}', "tempo: Unexpected keyword argument"),
        ('{"separation": "yes"}', "separation: Input should be 'auto', 'on' or 'off'"),
        ('{"lipsync": 1}', "lipsync: Input should be 'auto', 'on' or 'off'"),
    ],
    ids=[
        "tempo-0",
        "tempo-neg",
        "loud-1000",
        "loud-nan",
        "loud-inf",
        "str",
        "spk-0",
        "extra",
        "separation",
        "lipsync",
    ],
)
def test_api_bad_option_is_422_before_any_work(
    api: ApiHarness, speech_clip: Path, options: str, message: str
) -> None:
    upload_id = api.upload(speech_clip)
    body = f'{{"upload_id": "{upload_id}", "target_languages": ["pt"], "options": {options}}}'
    response = post_dub(api, body)
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert response.json() == {  # type: ignore[attr-defined]
        "error": {"code": "request.invalid", "message": f"body.options.{message}"}
    }
    assert api.dub_count() == 0 and not api.launcher.started


@pytest.mark.parametrize(
    ("name", "stem", "scratch"),
    [
        (".hidden.mp4", "hidden", "source.mp4"),
        ("..", "input", "source"),
        (LONG_NAME, "x" * 100, "source.mp4"),
        ("語" * 246 + ".mp4", "語" * 33, "source.mp4"),  # 738 bytes; 33 x 3 bytes <= 100
        ("take:2.mp4", "take:2", "source.mp4"),
    ],
    ids=["hidden", "dotdot", "250-chars", "250-unicode", "colon"],
)
def test_api_odd_names_are_kept_but_never_paths(
    api: ApiHarness,
    speech_clip: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    stem: str,
    scratch: str,
) -> None:
    from globalvoice.api import dubbing

    probed: list[Path] = []
    real_probe = dubbing.ingest.probe_input

    def recording_probe(path: Path, *, name: str | None = None) -> object:
        probed.append(path)
        return real_probe(path, name=name)

    monkeypatch.setattr(dubbing.ingest, "probe_input", recording_probe)
    upload_id = api.upload(speech_clip, name=name)
    response = post_dub(api, {"upload_id": upload_id, "target_languages": ["pt"]})
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    [job] = api.launcher.started
    assert job.filename == name  # the user's name, for the manifest
    assert job.upload_key == f"uploads/{api.a.id}/{upload_id}/source"  # ids only
    assert [p.name for p in probed] == [scratch]
    assert output_stem(job.filename) == stem
    upload = api.client.get(f"/v1/uploads/{upload_id}", headers=api.a.headers).json()
    assert upload["filename"] == name


def test_api_too_many_targets(api: ApiHarness, speech_clip: Path) -> None:
    api.context.limits.max_targets = 2
    upload_id = api.upload(speech_clip)
    response = post_dub(api, {"upload_id": upload_id, "target_languages": ["pt", "es", "fr"]})
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert response.json()["error"] == {  # type: ignore[attr-defined]
        "code": "input.too_many_targets",
        "message": "3 target languages asked for; a dub may have at most 2. Split them over "
        "several dubs, or raise the limit with GV_LIMITS__MAX_TARGETS.",
    }
    assert api.dub_count() == 0


def _refused_in_api(api: ApiHarness, upload_id: str, message: str) -> None:
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = post_dub(api, {"upload_id": upload_id, "target_languages": ["pt"]})
    wall_s = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb) / 1024
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert response.json()["error"] == {"code": "input.too_long", "message": message}  # type: ignore[attr-defined]
    print(f"\nrefused by the API in {wall_s:.2f} s, peak memory +{grown_mb:.0f} MB")  # noqa: T201
    assert wall_s < 2.0 and grown_mb < 100
    assert api.dub_count() == 0 and not api.launcher.started
    assert not list((api.context.settings.data_dir / "tmp").iterdir())


def test_api_refuses_10h_flac_from_the_probe(api: ApiHarness, silent_10h_flac: Path) -> None:
    upload_id = api.upload(silent_10h_flac)
    _refused_in_api(
        api,
        upload_id,
        f"silence.flac lasts 10.0 h; inputs may last at most 4.0 h. {TOO_LONG_FIX}",
    )


def test_api_refuses_2gib_sparse_wav_without_copying_it(api: ApiHarness) -> None:
    api.context.settings.max_upload_bytes = 4 << 30
    size = (2 << 30) + 44
    ticket = api.client.post(
        "/v1/uploads", json={"filename": "big.wav", "size_bytes": size}, headers=api.a.headers
    ).json()
    with api.context.sessions.begin() as session:
        upload = repo.get_upload(session, api.a.id, ticket["id"])
        assert upload is not None
        key = upload.object_key
    local = api.context.store.local_path(key)
    assert local is not None
    local.parent.mkdir(parents=True, exist_ok=True)
    sparse_wav(local)  # as if the client had PUT it to a presigned URL
    _refused_in_api(
        api, ticket["id"], f"big.wav lasts 18.6 h; inputs may last at most 4.0 h. {TOO_LONG_FIX}"
    )
    on_disk = sum(p.stat().st_blocks * 512 for p in api.context.settings.data_dir.rglob("*"))
    assert on_disk < 50 << 20  # the database and the hole: no 2 GB copy was written
