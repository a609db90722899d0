"""One dub, written once: the CLI's runner and the service (embedded Temporal, real workers,
storage and database) write the same files and the same manifest for the same input."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from globalvoice.config.settings import Settings
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.local import LocalDub, run_local
from globalvoice.dubbing.manifest import Manifest
from globalvoice.dubbing.steps import StepRun
from globalvoice.orchestration.runtime import open_runtime
from globalvoice.storage import layout
from globalvoice.storage.cache import ArtifactCache
from globalvoice.storage.db import repo
from tests.conftest import video_from_audio
from tests.manifests import read_manifest
from tests.test_service_workflow import _service_settings, _submit

pytestmark = pytest.mark.slow

# Differ by nature between two runs: how long each stage took.
_RUN_SPECIFIC = ("stages",)


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in manifest.items() if k not in _RUN_SPECIFIC}
    separation = fields["sound"]["separation"]
    if separation is not None:  # its CPU time, as the stages' times
        fields["sound"] = {**fields["sound"], "separation": {**separation, "cpu_s": None}}
    return fields


def _cli_dub(video: Path, out: Path, engines: DubEngines, settings: Settings) -> dict[str, Any]:
    request = LocalDub(input_path=video, targets=("es",), out_dir=out)
    cache = ArtifactCache.local(out.parent / "cli-cache")
    run_local(request, engines, StepRun(settings=settings.pipeline, cache=cache))
    return read_manifest(out)


def _service_dub(video: Path, tmp_path: Path) -> tuple[dict[str, Any], set[str]]:
    async def scenario() -> tuple[dict[str, Any], set[str]]:
        async with open_runtime(_service_settings(tmp_path)) as rt:
            job = await _submit(rt, video, ["es"])
            assert await asyncio.wait_for(rt.launcher.wait(job.dub_id), timeout=600) == "succeeded"
            with rt.sessions() as session:
                manifest_key = next(
                    a.object_key
                    for a in repo.list_artifacts(session, job.tenant_id, job.dub_id)
                    if a.kind == "manifest"
                )
            text = rt.store.get_bytes(manifest_key) or b""
            Manifest.from_json(text)  # the service's manifest validates against the model
            prefix = layout.dub_prefix(job.tenant_id, job.dub_id)
            names = {
                key.removeprefix(prefix)
                for key in rt.store.list_keys(prefix)
                if not key.removeprefix(prefix).startswith("work/")
            }
            return json.loads(text), names

    return asyncio.run(scenario())


def test_cli_and_service_write_the_same_files_and_manifest(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    video = video_from_audio(media / "speech" / "jfk.flac", tmp_path / "jfk.mp4")
    cli = _cli_dub(video, tmp_path / "cli", engines, settings)
    cli_files = {p.name for p in (tmp_path / "cli").iterdir()}
    service, service_files = _service_dub(video, tmp_path / "service")

    assert cli_files == service_files
    assert {"jfk.transcript.json", "jfk.es.translation.json", "manifest.json"} <= cli_files
    assert {(a["language"], a["kind"]) for a in cli["artifacts"]} >= {
        ("en", "transcript"),
        ("es", "translation"),
        ("es", "video"),
    }
    cli_fields, service_fields = _comparable(cli), _comparable(service)
    assert cli_fields.keys() == service_fields.keys()
    for field in cli_fields:  # field by field, so a failure names the one that differs
        assert cli_fields[field] == service_fields[field], field
    # the stages ran in both, under the same names
    assert {s["stage"] for s in cli["stages"]} == {s["stage"] for s in service["stages"]}
