"""API keys and tenant isolation: every endpoint needs a key, and another tenant's ids are 404."""

from pathlib import Path

import pytest

from globalvoice.storage.db import repo
from tests.conftest import ApiHarness

MISSING = "xyz_0000"


def endpoints(upload_id: str, dub_id: str) -> list[tuple[str, str, dict[str, object]]]:
    """(method, path, request kwargs) for every authenticated endpoint."""
    return [
        ("GET", "/v1/languages", {}),
        ("POST", "/v1/uploads", {"json": {"filename": "a.mp4", "size_bytes": 10}}),
        ("POST", "/v1/uploads/multipart", {"files": {"file": ("a.wav", b"RIFF")}}),
        ("GET", f"/v1/uploads/{upload_id}", {}),
        ("PUT", f"/v1/uploads/{upload_id}/content", {"content": b"0123456789"}),
        ("POST", "/v1/dubs", {"json": {"upload_id": upload_id, "target_languages": ["pt"]}}),
        ("GET", "/v1/dubs", {}),
        ("GET", f"/v1/dubs/{dub_id}", {}),
        ("GET", f"/v1/dubs/{dub_id}/events", {}),
        ("GET", f"/v1/dubs/{dub_id}/artifacts/pt/video", {}),
        ("POST", f"/v1/dubs/{dub_id}/cancel", {}),
        ("DELETE", f"/v1/dubs/{dub_id}", {}),
    ]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer gv_nope_nope"}, {"X-API-Key": "x"}]
)
def test_every_endpoint_needs_a_valid_key(api: ApiHarness, headers: dict[str, str]) -> None:
    for method, path, kwargs in endpoints(MISSING, MISSING):
        response = api.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "auth.invalid_key"
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.dub_count() == 0 and not api.launcher.started


def test_bearer_and_x_api_key_both_work(api: ApiHarness) -> None:
    assert api.client.get("/v1/dubs", headers=api.a.headers).status_code == 200
    assert api.client.get("/v1/dubs", headers={"X-API-Key": api.a.key}).status_code == 200
    assert api.client.get("/v1/health").json() == {"status": "ok"}  # no key needed


def test_revoked_key_is_refused(api: ApiHarness) -> None:
    with api.context.sessions.begin() as session:
        for key in repo.list_api_keys(session, api.a.id):
            repo.revoke_api_key(session, api.a.id, key.id)
    response = api.client.get("/v1/dubs", headers=api.a.headers)
    assert response.status_code == 401
    assert "Traceback" not in response.text


def test_another_tenants_ids_read_as_missing_everywhere(api: ApiHarness, speech_clip: Path) -> None:
    upload_id = api.upload(speech_clip)
    pending = api.client.post(
        "/v1/uploads", json={"filename": "b.flac", "size_bytes": 10}, headers=api.a.headers
    ).json()["id"]
    dub_id = api.create_dub(upload_id)["id"]
    api.context.store.put_bytes(f"dubs/{api.a.id}/{dub_id}/clip.pt.mp4", b"video")
    with api.context.sessions.begin() as session:
        repo.add_artifact(
            session,
            dub_id,
            language="pt",
            kind="video",
            object_key=f"dubs/{api.a.id}/{dub_id}/clip.pt.mp4",
            size_bytes=5,
            content_type="video/mp4",
        )
    # tenant A sees its dub, with the artifact
    assert (
        api.client.get(f"/v1/dubs/{dub_id}/artifacts/pt/video", headers=api.a.headers).content
        == b"video"
    )

    skip = {
        ("POST", "/v1/uploads"),
        ("POST", "/v1/uploads/multipart"),
        ("GET", "/v1/dubs"),
        ("GET", "/v1/languages"),
    }
    for foreign, missing in [
        (endpoints(upload_id, dub_id), endpoints(MISSING, MISSING)),
        (endpoints(pending, dub_id), endpoints(MISSING, MISSING)),
    ]:
        for (method, path, kwargs), (_, missing_path, missing_kwargs) in zip(
            foreign, missing, strict=True
        ):
            if (method, path) in skip:
                continue
            as_b = api.client.request(method, path, headers=api.b.headers, **kwargs)
            as_nobody = api.client.request(
                method,
                missing_path,
                headers=api.b.headers,
                **missing_kwargs,
            )
            assert as_b.status_code == as_nobody.status_code == 404, (method, path, as_b.text)
            message = as_b.json()["error"]["message"]
            for real in (upload_id, pending, dub_id):
                message = message.replace(real, MISSING)
            assert as_nobody.json() == {"error": {"code": "not_found", "message": message}}

    # B's list is empty; A's dub and upload are untouched, nothing cancelled or started for B
    assert api.client.get("/v1/dubs", headers=api.b.headers).json()["dubs"] == []
    assert api.client.get(f"/v1/dubs/{dub_id}", headers=api.a.headers).status_code == 200
    pending_now = api.client.get(f"/v1/uploads/{pending}", headers=api.a.headers).json()
    assert pending_now["status"] == "pending"
    assert api.launcher.cancelled == [] and len(api.launcher.started) == 1
    assert api.context.store.exists(f"dubs/{api.a.id}/{dub_id}/clip.pt.mp4")
