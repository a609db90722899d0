"""The API over a real S3 server (SeaweedFS): presigned upload, probing from S3, 307 downloads."""

import secrets
from pathlib import Path

import httpx

from globalvoice.storage.blobs import S3BlobStore
from globalvoice.storage.db import repo
from tests.conftest import ApiHarness, build_api
from tests.services import SeaweedFS


def test_presigned_upload_dub_download_delete(
    seaweedfs: SeaweedFS, tmp_path: Path, talking_video: Path
) -> None:
    store = S3BlobStore(seaweedfs.storage(f"gv-api-{secrets.token_hex(6)}"))
    api: ApiHarness = build_api(tmp_path, store)
    with api.client:
        data = talking_video.read_bytes()
        ticket = api.client.post(
            "/v1/uploads",
            json={"filename": "talk.mpg", "size_bytes": len(data), "content_type": "video/mpeg"},
            headers=api.a.headers,
        ).json()
        assert ticket["upload_url"].startswith(seaweedfs.endpoint_url)
        assert ticket["send_api_key"] is False and ticket["expires_at"] is not None
        upload_id = ticket["id"]
        pending = api.client.get(f"/v1/uploads/{upload_id}", headers=api.a.headers).json()
        assert pending["status"] == "pending"

        put = httpx.put(ticket["upload_url"], content=data, headers=ticket["headers"])
        assert put.status_code == 200, put.text
        stored = api.client.get(f"/v1/uploads/{upload_id}", headers=api.a.headers).json()
        assert stored["status"] == "stored" and stored["size_bytes"] == len(data)

        dub = api.create_dub(upload_id)  # downloads the object from S3 and probes it
        [job] = api.launcher.started
        assert job.upload_key == f"uploads/{api.a.id}/{upload_id}/source"

        key = f"dubs/{api.a.id}/{dub['id']}/talk.pt.mp4"
        store.put_bytes(key, b"dubbed video", content_type="video/mp4")
        with api.context.sessions.begin() as session:
            repo.add_artifact(
                session,
                dub["id"],
                language="pt",
                kind="video",
                object_key=key,
                size_bytes=12,
                content_type="video/mp4",
            )
        url = f"/v1/dubs/{dub['id']}/artifacts/pt/video"
        redirect = api.client.get(url, headers=api.a.headers, follow_redirects=False)
        assert redirect.status_code == 307
        location = redirect.headers["location"]
        assert location.startswith(seaweedfs.endpoint_url)
        fetched = httpx.get(location)
        assert fetched.content == b"dubbed video"
        assert 'filename="talk.pt.mp4"' in fetched.headers["content-disposition"]

        assert api.client.delete(f"/v1/dubs/{dub['id']}", headers=api.a.headers).status_code == 204
        assert store.list_keys(f"dubs/{api.a.id}/{dub['id']}/") == []
        assert store.exists(job.upload_key)
