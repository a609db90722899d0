"""GET /v1/dubs/{id}/artifacts/{language}/{kind}: streamed from a folder store, 404 otherwise."""

from pathlib import Path

import pytest

from globalvoice.storage.db import repo
from tests.conftest import ApiHarness


def add_output(api: ApiHarness, dub_id: str, language: str, kind: str, name: str) -> str:
    key = f"dubs/{api.a.id}/{dub_id}/{name}"
    with api.context.sessions.begin() as session:
        repo.add_artifact(
            session,
            dub_id,
            language=language,
            kind=kind,
            object_key=key,
            size_bytes=5,
            content_type="video/mp4",
        )
    return key


def test_download_streams_the_file_with_its_name(api: ApiHarness, speech_clip: Path) -> None:
    dub = api.create_dub(api.upload(speech_clip))
    key = add_output(api, dub["id"], "pt", "video", "jfk.pt.mp4")
    api.context.store.put_bytes(key, b"movie")
    response = api.client.get(f"/v1/dubs/{dub['id']}/artifacts/pt/video", headers=api.a.headers)
    assert response.status_code == 200 and response.content == b"movie"
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-disposition"] == 'attachment; filename="jfk.pt.mp4"'
    listed = api.client.get(f"/v1/dubs/{dub['id']}", headers=api.a.headers).json()["artifacts"]
    assert api.client.get(listed[0]["url"], headers=api.a.headers).content == b"movie"


@pytest.mark.parametrize(
    "path",
    ["pt/audio", "es/video", "pt/thumbnail", "pt/..%2F..%2Fgv.db", "all/manifest", "pt/video"],
)
def test_unknown_or_missing_outputs_are_404(api: ApiHarness, speech_clip: Path, path: str) -> None:
    dub = api.create_dub(api.upload(speech_clip))
    add_output(api, dub["id"], "pt", "video", "jfk.pt.mp4")  # recorded, but no object stored
    response = api.client.get(f"/v1/dubs/{dub['id']}/artifacts/{path}", headers=api.a.headers)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_dub_is_404(api: ApiHarness) -> None:
    response = api.client.get("/v1/dubs/dub_missing/artifacts/pt/video", headers=api.a.headers)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No dub dub_missing."
