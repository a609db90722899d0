"""The service end to end over HTTP: key, upload, dub, live events, downloads, delete.

Once with the embedded defaults (SQLite, local objects, in-process events, embedded Temporal)
and once against real PostgreSQL, Redis, SeaweedFS S3 and a separately started Temporal server.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pysubs2
import pytest
import uvicorn

from globalvoice.api.app import create_app
from globalvoice.cli.service import api_context, create_key
from globalvoice.config.settings import ServiceSettings, Settings, StorageSettings
from globalvoice.orchestration.devserver import EmbeddedTemporal, free_port
from globalvoice.orchestration.runtime import ServiceRuntime, open_runtime
from tests.conftest import video_from_audio

pytestmark = pytest.mark.slow

_TIMEOUT_S = 600


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, ServiceRuntime]]:
    """The API on a free port, in this event loop, with workers for every pool."""
    port = free_port()
    settings.service.public_url = f"http://127.0.0.1:{port}"
    async with open_runtime(settings) as rt:
        config = uvicorn.Config(
            create_app(api_context(settings, rt)), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event for this
            await asyncio.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", rt
        finally:
            server.should_exit = True
            await task


async def follow_events(client: httpx.AsyncClient, dub_id: str) -> list[dict[str, Any]]:
    """Read the dub's SSE stream until the server ends it; the events in order."""
    events: list[dict[str, Any]] = []
    async with client.stream("GET", f"/v1/dubs/{dub_id}/events", timeout=_TIMEOUT_S) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append({"event": name, **json.loads(line.removeprefix("data: "))})
    return events


async def dub_through_api(base_url: str, key: str, video: Path, rt: ServiceRuntime) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=60) as client:
        ticket = await client.post(
            "/v1/uploads",
            json={
                "filename": video.name,
                "size_bytes": video.stat().st_size,
                "content_type": "video/mp4",
            },
        )
        assert ticket.status_code == 201, ticket.text
        upload = ticket.json()
        put_headers = {**upload["headers"], **(auth if upload["send_api_key"] else {})}
        async with httpx.AsyncClient(timeout=60) as raw:  # presigned URLs carry their own auth
            sent = await raw.put(
                upload["upload_url"], content=video.read_bytes(), headers=put_headers
            )
        assert sent.status_code in (200, 201, 204), sent.text

        created = await client.post(
            "/v1/dubs", json={"upload_id": upload["id"], "target_languages": ["es"]}
        )
        assert created.status_code == 202, created.text
        dub_id = created.json()["id"]
        assert created.json()["expected_duration_s"] > 0

        events = await asyncio.wait_for(follow_events(client, dub_id), _TIMEOUT_S)
        assert events[0]["event"] == "snapshot"
        stages = {e["stage"] for e in events if e["event"] == "progress"}
        assert {"transcribe", "synthesize"} <= stages, stages
        assert events[-1]["status"] == "succeeded", events[-1]

        dub = (await client.get(f"/v1/dubs/{dub_id}")).json()
        assert dub["status"] == "succeeded"
        assert dub["detected_language"] == "en"
        urls = {(a["language"], a["kind"]): a["url"] for a in dub["artifacts"]}
        video_out = await client.get(urls[("es", "video")], follow_redirects=True)
        assert video_out.status_code == 200
        assert video_out.content[4:8] == b"ftyp"  # an MP4
        srt = await client.get(urls[("es", "subtitles_srt")], follow_redirects=True)
        cues = pysubs2.SSAFile.from_string(srt.text)
        assert len(cues) >= 1
        assert "país" in " ".join(c.plaintext for c in cues)

        listed = [k for k in rt.store.list_keys("dubs/") if dub_id in k]
        assert listed, "the dub's outputs are in the store"
        prefixes = sorted({k.split(dub_id)[0] + dub_id + "/" for k in listed})
        deleted = await client.delete(f"/v1/dubs/{dub_id}")
        assert deleted.status_code == 204
        assert (await client.get(f"/v1/dubs/{dub_id}")).status_code == 404
        for prefix in prefixes:
            assert rt.store.list_keys(prefix) == []


def test_embedded_service_end_to_end(media: Path, tmp_path: Path) -> None:
    video = video_from_audio(media / "speech" / "jfk.flac", tmp_path / "jfk.mp4")
    settings = Settings(service=ServiceSettings(data_dir=tmp_path / "service"))
    _, key = create_key(settings, tenant="acme", name="e2e")

    async def scenario() -> None:
        async with serving(settings) as (base_url, rt):
            assert rt.temporal is not None  # the embedded dev server
            await dub_through_api(base_url, key, video, rt)

    asyncio.run(scenario())


def test_service_on_postgres_redis_seaweedfs_and_temporal(
    media: Path, tmp_path: Path, postgres_url: str, seaweedfs: Any
) -> None:
    video = video_from_audio(media / "speech" / "jfk.flac", tmp_path / "jfk.mp4")
    with EmbeddedTemporal(tmp_path / "temporal.db", port=free_port()) as temporal:
        settings = Settings(
            service=ServiceSettings(
                data_dir=tmp_path / "service",
                database_url=postgres_url,
                redis_url="redis://127.0.0.1:6379/0",
                temporal_address=temporal.address,
                storage=StorageSettings(
                    kind="s3",
                    s3_endpoint_url=seaweedfs.endpoint_url,
                    s3_bucket="gv-e2e",
                    s3_region=seaweedfs.region,
                    s3_access_key_id=seaweedfs.access_key_id,
                    s3_secret_access_key=seaweedfs.secret_access_key,
                ),
            )
        )
        _, key = create_key(settings, tenant="acme", name="e2e")

        async def scenario() -> None:
            async with serving(settings) as (base_url, rt):
                assert rt.temporal is None  # the external server above
                await dub_through_api(base_url, key, video, rt)

        asyncio.run(scenario())
    assert not (tmp_path / "service" / "objects").exists()  # nothing went to local storage


def test_a_running_dub_can_be_cancelled(lj_minute: Path, tmp_path: Path) -> None:
    settings = Settings(service=ServiceSettings(data_dir=tmp_path / "service"))
    _, key = create_key(settings, tenant="acme", name="cancel")
    auth = {"Authorization": f"Bearer {key}"}

    async def scenario() -> None:
        async with (
            serving(settings) as (base_url, _rt),
            httpx.AsyncClient(base_url=base_url, headers=auth, timeout=60) as client,
        ):
            sent = await client.post(
                "/v1/uploads/multipart",
                files={"file": (lj_minute.name, lj_minute.read_bytes(), "video/mp4")},
            )
            assert sent.status_code == 201, sent.text
            created = await client.post(
                "/v1/dubs", json={"upload_id": sent.json()["id"], "target_languages": ["es"]}
            )
            dub_id = created.json()["id"]
            async with client.stream("GET", f"/v1/dubs/{dub_id}/events") as stream:
                async for line in stream.aiter_lines():
                    if '"stage":"transcribe"' in line:  # working: cancel now
                        break
            cancelled = await client.post(f"/v1/dubs/{dub_id}/cancel")
            assert cancelled.status_code == 202, cancelled.text
            events = await asyncio.wait_for(follow_events(client, dub_id), 120)
            assert events[-1]["status"] == "cancelled", events[-1]
            dub = (await client.get(f"/v1/dubs/{dub_id}")).json()
            assert dub["status"] == "cancelled"
            assert not [a for a in dub["artifacts"] if a["kind"] == "video"]

    asyncio.run(scenario())
