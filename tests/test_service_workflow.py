"""The dub workflow on a real Temporal dev server with real workers, storage and database."""

import asyncio
import json
from pathlib import Path

import pytest

from globalvoice.config.settings import ServiceSettings, Settings
from globalvoice.orchestration.jobs import DubJob
from globalvoice.orchestration.runtime import ServiceRuntime, open_runtime
from globalvoice.storage.db import repo
from tests.conftest import video_from_audio

pytestmark = pytest.mark.slow


def _service_settings(tmp_path: Path, **service: object) -> Settings:
    return Settings(service=ServiceSettings(data_dir=tmp_path / "service", **service))


async def _submit(rt: ServiceRuntime, video: Path, targets: list[str]) -> DubJob:
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
        dub, created = repo.create_dub(
            session, tenant.id, repo.NewDub(upload_id=upload.id, target_languages=targets)
        )
        assert created
        job = DubJob(
            dub_id=dub.id,
            tenant_id=tenant.id,
            upload_key=upload.object_key,
            filename=video.name,
            targets=targets,
        )
    await rt.launcher.start(job)
    return job


def test_embedded_workflow_dubs_jfk_to_es(media: Path, tmp_path: Path) -> None:
    video = video_from_audio(media / "speech" / "jfk.flac", tmp_path / "jfk.mp4")
    settings = _service_settings(tmp_path)

    async def scenario() -> None:
        async with open_runtime(settings) as rt:
            job = await _submit(rt, video, ["es"])
            outcome = await asyncio.wait_for(rt.launcher.wait(job.dub_id), timeout=600)
            assert outcome == "succeeded"
            with rt.sessions() as session:
                dub = repo.get_dub(session, job.tenant_id, job.dub_id)
                assert dub is not None
                assert dub.status == "succeeded"
                assert dub.detected_language == "en"
                kinds = {
                    (a.language, a.kind): a.object_key
                    for a in repo.list_artifacts(session, job.tenant_id, job.dub_id)
                }
            for kind in ("video", "audio", "subtitles_srt", "subtitles_vtt", "translation"):
                assert rt.store.size(kinds[("es", kind)]), kind
            assert ("en", "transcript") in kinds
            manifest = json.loads(rt.store.get_bytes(kinds[("all", "manifest")]) or b"{}")
            assert manifest["summary"]["es"]["dubbed"] >= 1
            assert abs(manifest["summary"]["es"]["loudness_lufs"] + 23) <= 0.5
            assert "país" in " ".join(s["targets"]["es"]["text"] for s in manifest["segments"])

    asyncio.run(scenario())
