"""`globalvoice voices` through the real CLI: the embedded library by default, pgvector when set."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.layout import reference_key
from globalvoice.storage.voices import LOCAL_TENANT, LocalVoiceLibrary, VoiceLibrary


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from globalvoice.cli.main import run; run()", "voices", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def listed(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = run_cli(env, "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def populate(library: VoiceLibrary, tenant: str) -> list[str]:
    rng = np.random.default_rng(0)
    return [
        library.add(tenant, name, rng.normal(size=256), {"n": name}, b"fLaC").id
        for name in ("S1 of talk.mp4", "S2 of talk.mp4", "S1 of interview.mp4")
    ]


def exercise(env: dict[str, str], library: VoiceLibrary, tenant: str, *extra: str) -> None:
    first, second, third = populate(library, tenant)
    assert [v["id"] for v in listed(env, *extra)] == [third, second, first]
    table = run_cli(env, "list", *extra)
    assert table.returncode == 0 and "S2 of talk.mp4" in table.stdout

    assert run_cli(env, "rename", first, "Host", *extra).returncode == 0
    assert run_cli(env, "merge", first, third, *extra).returncode == 0
    assert {(v["id"], v["name"]) for v in listed(env, *extra)} == {
        (first, "Host"),
        (second, "S2 of talk.mp4"),
    }
    assert run_cli(env, "delete", second, "--yes", *extra).returncode == 0
    assert [v["id"] for v in listed(env, *extra)] == [first]
    assert library.get(tenant, second) is None and library.get(tenant, third) is None

    missing = run_cli(env, "delete", second, "--yes", *extra)
    assert missing.returncode == 2 and "(not_found)" in missing.stderr
    assert "Traceback" not in missing.stderr
    itself = run_cli(env, "merge", first, first, *extra)
    assert itself.returncode == 2 and "itself" in itself.stderr


def test_embedded_library_by_default(tmp_path: Path) -> None:
    env = {"GV_SERVICE__DATA_DIR": str(tmp_path)}
    store = LocalBlobStore(tmp_path / "objects")
    library = LocalVoiceLibrary(tmp_path / "voices.db", store)
    exercise(env, library, LOCAL_TENANT)
    assert store.list_keys("voices/") == [reference_key(LOCAL_TENANT, str(listed(env)[0]["id"]))]
    library.close()


def test_service_library_when_configured(tmp_path: Path, pgvector_url: str) -> None:
    from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

    env = {"GV_SERVICE__DATA_DIR": str(tmp_path), "GV_SERVICE__VOICE_INDEX_URL": pgvector_url}
    library = PgVectorVoiceLibrary(pgvector_url, LocalBlobStore(tmp_path / "objects"))
    no_tenant = run_cli(env, "list")
    assert no_tenant.returncode == 2 and "--tenant" in no_tenant.stderr
    other = library.add("ten_other", "not yours", np.ones(256), {}).id
    exercise(env, library, "ten_a", "--tenant", "ten_a")
    assert run_cli(env, "delete", other, "--yes", "--tenant", "ten_a").returncode == 2
    assert library.get("ten_other", other) is not None
    assert not (tmp_path / "voices.db").exists()  # the local library was not used
    library.close()
