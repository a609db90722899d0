"""Uploads: announce + PUT through the API, multipart, and the size limits (413)."""

from pathlib import Path

from tests.conftest import API_MAX_MULTIPART, API_MAX_UPLOAD, ApiHarness


def announce(api: ApiHarness, size: int, name: str = "talk.flac") -> dict[str, object]:
    response = api.client.post(
        "/v1/uploads",
        json={"filename": name, "size_bytes": size, "content_type": "audio/flac"},
        headers=api.a.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def upload_rows(api: ApiHarness) -> int:
    from sqlalchemy import func, select

    from globalvoice.storage.db.models import Upload

    with api.context.sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(Upload)) or 0)


def test_put_through_the_api_when_the_store_cannot_presign(
    api: ApiHarness, speech_clip: Path
) -> None:
    data = speech_clip.read_bytes()
    ticket = announce(api, len(data))
    upload_id = ticket["id"]
    assert ticket["method"] == "PUT" and ticket["status"] == "pending"
    assert ticket["upload_url"] == f"http://testserver/v1/uploads/{upload_id}/content"
    assert ticket["send_api_key"] is True and ticket["expires_at"] is None
    assert ticket["headers"] == {"Content-Type": "audio/flac"}

    def chunks() -> object:  # a streamed body, as a client sends a large file
        for start in range(0, len(data), 64 << 10):
            yield data[start : start + (64 << 10)]

    put = api.client.put(
        str(ticket["upload_url"]), content=chunks(), headers={"X-API-Key": api.a.key}
    )
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "stored" and put.json()["size_bytes"] == len(data)
    got = api.client.get(f"/v1/uploads/{upload_id}", headers=api.a.headers).json()
    assert got["status"] == "stored" and got["filename"] == "talk.flac"
    key = f"uploads/{api.a.id}/{upload_id}/source"
    assert api.context.store.get_bytes(key) == data

    again = api.client.put(str(ticket["upload_url"]), content=data, headers=api.a.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_put_must_match_the_announced_size(api: ApiHarness) -> None:
    ticket = announce(api, 1000)
    url = str(ticket["upload_url"])
    short = api.client.put(url, content=b"x" * 999, headers=api.a.headers)
    assert short.status_code == 422 and "announced 1000" in short.json()["error"]["message"]
    longer = api.client.put(url, content=b"x" * 1001, headers=api.a.headers)
    assert longer.status_code == 413 and longer.json()["error"]["code"] == "upload.too_large"

    def unannounced_length() -> object:  # chunked: the limit applies while streaming
        yield b"x" * 800
        yield b"x" * 800

    streamed = api.client.put(url, content=unannounced_length(), headers=api.a.headers)
    assert streamed.status_code == 413
    status = api.client.get(f"/v1/uploads/{ticket['id']}", headers=api.a.headers).json()
    assert status["status"] == "pending"
    assert not list((api.context.settings.data_dir / "tmp").iterdir())  # no leftovers


def test_oversized_announcement_is_refused(api: ApiHarness) -> None:
    response = api.client.post(
        "/v1/uploads",
        json={"filename": "huge.mp4", "size_bytes": API_MAX_UPLOAD + 1},
        headers=api.a.headers,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload.too_large"
    assert str(API_MAX_UPLOAD) in response.json()["error"]["message"]
    assert upload_rows(api) == 0


def test_bad_announcements_are_422(api: ApiHarness) -> None:
    for body in (
        {"filename": "a.mp4"},
        {"filename": "a.mp4", "size_bytes": 0},
        {"filename": "", "size_bytes": 5},
        {"filename": "a.mp4", "size_bytes": 5, "content_type": "not a type"},
        {"filename": "a.mp4", "size_bytes": 5, "surprise": True},
    ):
        response = api.client.post("/v1/uploads", json=body, headers=api.a.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "request.invalid"
    assert upload_rows(api) == 0


def test_filename_is_reduced_to_its_last_component(api: ApiHarness) -> None:
    ticket = announce(api, 10, name="../../etc/passwd.flac")
    assert ticket["filename"] == "passwd.flac"


def test_multipart_upload(api: ApiHarness, talking_video: Path) -> None:
    data = talking_video.read_bytes()
    response = api.client.post(
        "/v1/uploads/multipart",
        files={"file": ("clip.mpg", data, "video/mpeg")},
        headers=api.a.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "stored" and body["size_bytes"] == len(data)
    assert body["filename"] == "clip.mpg" and body["content_type"] == "video/mpeg"
    key = f"uploads/{api.a.id}/{body['id']}/source"
    assert api.context.store.get_bytes(key) == data


def test_oversized_multipart_is_refused(api: ApiHarness) -> None:
    response = api.client.post(
        "/v1/uploads/multipart",
        files={"file": ("big.wav", b"\0" * (API_MAX_MULTIPART + (64 << 10)))},
        headers=api.a.headers,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload.too_large"
    # just over the limit: passes the Content-Length check, refused on the file's size
    response = api.client.post(
        "/v1/uploads/multipart",
        files={"file": ("big.wav", b"\0" * (API_MAX_MULTIPART + 1))},
        headers=api.a.headers,
    )
    assert response.status_code == 413
    assert upload_rows(api) == 0


def test_multipart_needs_a_file_field(api: ApiHarness) -> None:
    response = api.client.post(
        "/v1/uploads/multipart", data={"other": "x"}, files={}, headers=api.a.headers
    )
    assert response.status_code == 422
    assert "`file`" in response.json()["error"]["message"]
    assert upload_rows(api) == 0


def test_unknown_upload_is_404(api: ApiHarness) -> None:
    response = api.client.get("/v1/uploads/upl_missing", headers=api.a.headers)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No upload upl_missing."}}


def test_multipart_needs_a_content_length(api: ApiHarness) -> None:
    def body() -> object:  # chunked: no Content-Length, so the size cannot be checked first
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        yield b"RIFF\r\n--b--\r\n"

    response = api.client.post(
        "/v1/uploads/multipart",
        content=body(),
        headers={**api.a.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "upload.length_required"
    assert upload_rows(api) == 0
