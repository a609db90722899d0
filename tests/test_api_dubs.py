"""Creating dubs: every check runs before a row exists; idempotency; read, list, cancel, delete.

The RecordingLauncher (tests/conftest.py) stands in for Temporal: these tests check what the
API hands to the DubLauncher protocol, not the workflow itself.
"""

from pathlib import Path

import pytest

from globalvoice.dubbing.request import DubOptions
from globalvoice.storage.db import repo
from tests.conftest import ApiHarness


def post_dub(api: ApiHarness, upload_id: str, key: str | None = None, **body: object) -> object:
    headers = {**api.a.headers, **({"Idempotency-Key": key} if key else {})}
    payload = {"upload_id": upload_id, "target_languages": ["pt"], **body}
    return api.client.post("/v1/dubs", json=payload, headers=headers)


def test_dub_of_real_media_starts_one_job(api: ApiHarness, talking_video: Path) -> None:
    upload_id = api.upload(talking_video, name="talk.mpg")
    response = post_dub(
        api, upload_id, target_languages=["pt-BR", "es", "pt"], options={"max_tempo": 1.2}
    )
    assert response.status_code == 202, response.text
    dub = response.json()
    assert dub["status"] == "queued" and dub["id"].startswith("dub_")
    assert dub["target_languages"] == ["pt", "es"]  # normalised, without repeats
    assert dub["source_language"] is None and dub["error"] is None and dub["artifacts"] == []
    assert dub["progress"] == {"stages": [], "languages": {"pt": 0.0, "es": 0.0}}
    # 3 s of media, two targets: start-up 15 s + 3 s x (0.2 + 2 x 0.9)
    assert dub["expected_duration_s"] == pytest.approx(15 + 3 * 2.0, abs=0.5)
    [job] = api.launcher.started
    assert job.dub_id == dub["id"] and job.tenant_id == api.a.id
    assert job.upload_key == f"uploads/{api.a.id}/{upload_id}/source"
    assert job.filename == "talk.mpg" and job.targets == ["pt", "es"]
    assert job.source is None and job.options == DubOptions(max_tempo=1.2)


def test_dub_options_auto_on_off_reach_the_job_and_read_back(
    api: ApiHarness, talking_video: Path
) -> None:
    upload_id = api.upload(talking_video, name="talk.mpg")
    options = {"lipsync": "off", "separation": "on", "speakers": 2}
    response = post_dub(api, upload_id, options=options)
    assert response.status_code == 202, response.text
    assert response.json()["options"] == options
    [job] = api.launcher.started
    assert job.options == DubOptions(lipsync="off", separation="on", speakers=2)
    again = api.client.get(f"/v1/dubs/{response.json()['id']}", headers=api.a.headers)
    assert again.status_code == 200 and again.json()["options"] == options


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda media, tmp: b"just some text, not a video\n", "media.unsafe"),
        (lambda media, tmp: bytes(range(256)) * 64, "media.unreadable"),
        (lambda media, tmp: tmp["silent"].read_bytes(), "media.no_audio"),
        (  # a WAV cut in half: its header declares more than the file holds
            lambda media, tmp: (media / "speech/ljspeech/LJ001-0001.wav").read_bytes()[:200_000],
            "media.unreadable",
        ),
    ],
    ids=["text", "binary-noise", "no-audio", "truncated-wav"],
)
def test_bad_media_is_422_and_creates_no_dub(
    api: ApiHarness, media: Path, silent_video: Path, make: object, code: str
) -> None:
    data = make(media, {"silent": silent_video})  # type: ignore[operator]
    upload_id = api.upload(data, name="input.mp4")
    response = post_dub(api, upload_id, source_language="en", key="k1")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert "input.mp4" in error["message"]  # the user's name, not a server path
    assert str(api.context.settings.data_dir) not in response.text
    assert api.dub_count() == 0 and not api.launcher.started
    assert not list((api.context.settings.data_dir / "tmp").iterdir())


def test_unknown_upload_is_404(api: ApiHarness) -> None:
    response = post_dub(api, "upl_nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert api.dub_count() == 0


def test_upload_without_content_is_409(api: ApiHarness) -> None:
    ticket = api.client.post(
        "/v1/uploads", json={"filename": "a.mp4", "size_bytes": 100}, headers=api.a.headers
    ).json()
    response = post_dub(api, ticket["id"])
    assert response.status_code == 409 and "no content yet" in response.json()["error"]["message"]
    assert api.dub_count() == 0


def test_unsupported_languages_are_422(api: ApiHarness, speech_clip: Path) -> None:
    upload_id = api.upload(speech_clip)
    no_voice = post_dub(api, upload_id, target_languages=["pt", "de"])
    assert no_voice.status_code == 422
    assert no_voice.json()["error"] == {
        "code": "lang.unsupported",
        "message": "No voice for de. Target languages with a voice: en, es, fr, it, pt.",
    }
    no_pair = post_dub(api, upload_id, source_language="es", target_languages=["pt", "fr"])
    assert no_pair.status_code == 422
    message = no_pair.json()["error"]["message"]
    assert message.startswith("Cannot translate es to pt, fr. Supported pairs: en->es, en->pt")
    bad_tag = post_dub(api, upload_id, target_languages=["p0rtuguese"])
    assert bad_tag.status_code == 422 and bad_tag.json()["error"]["code"] == "request.invalid"
    assert api.dub_count() == 0 and not api.launcher.started
    # the source's own language needs no translation; an undetected source is checked later
    assert (
        post_dub(api, upload_id, source_language="es", target_languages=["es"]).status_code == 202
    )
    assert post_dub(api, upload_id, target_languages=["fr"]).status_code == 202


def test_idempotency_key(api: ApiHarness, speech_clip: Path) -> None:
    upload_id = api.upload(speech_clip)
    first = post_dub(api, upload_id, key="order-1", source_language="en")
    assert first.status_code == 202
    replay = post_dub(api, upload_id, key="order-1", source_language="en")
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    conflict = post_dub(
        api, upload_id, key="order-1", source_language="en", target_languages=["es"]
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency.conflict"
    assert api.dub_count() == 1 and len(api.launcher.started) == 1
    # without a key each request is a new dub; keys are per tenant
    assert post_dub(api, upload_id).json()["id"] != first.json()["id"]
    other = api.upload(speech_clip, tenant=api.b)
    as_b = api.client.post(
        "/v1/dubs",
        json={"upload_id": other, "target_languages": ["pt"]},
        headers={**api.b.headers, "Idempotency-Key": "order-1"},
    )
    assert as_b.status_code == 202 and as_b.json()["id"] != first.json()["id"]
    assert len(api.launcher.started) == 3


def test_failed_launch_leaves_nothing_and_can_be_retried(
    api: ApiHarness, speech_clip: Path
) -> None:
    upload_id = api.upload(speech_clip)
    api.launcher.fail_start = True
    response = post_dub(api, upload_id, key="retry-me")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json()["error"]["code"] == "dub.launch_failed"
    assert "Temporal" not in response.text  # the cause is logged, not sent
    assert api.dub_count() == 0
    api.launcher.fail_start = False
    assert post_dub(api, upload_id, key="retry-me").status_code == 202


def test_get_dub_shows_progress_errors_and_downloads(api: ApiHarness, speech_clip: Path) -> None:
    dub = api.create_dub(api.upload(speech_clip), target_languages=["pt", "es"])
    with api.context.sessions.begin() as session:
        repo.update_dub_status(session, dub["id"], "running", detected_language="en")
        repo.update_dub_progress(session, dub["id"], "vad", "", done=1, total=1)
        repo.update_dub_progress(session, dub["id"], "translate", "pt", done=10, total=10)
        repo.update_dub_progress(session, dub["id"], "synthesize", "pt", done=5, total=10)
        repo.add_artifact(
            session,
            dub["id"],
            language="en",
            kind="subtitles_srt",
            object_key=f"dubs/{api.a.id}/{dub['id']}/talk.en.srt",
            size_bytes=12,
            content_type="application/x-subrip",
        )
    got = api.client.get(f"/v1/dubs/{dub['id']}", headers=api.a.headers).json()
    assert got["status"] == "running" and got["detected_language"] == "en"
    stages = {(s["stage"], s["language"]): s["fraction"] for s in got["progress"]["stages"]}
    assert stages == {("vad", None): 1.0, ("translate", "pt"): 1.0, ("synthesize", "pt"): 0.5}
    assert got["progress"]["languages"] == {"pt": pytest.approx(0.525), "es": 0.0}
    assert got["artifacts"] == [
        {
            "language": "en",
            "kind": "subtitles_srt",
            "content_type": "application/x-subrip",
            "size_bytes": 12,
            "url": f"http://testserver/v1/dubs/{dub['id']}/artifacts/en/subtitles_srt",
        }
    ]
    with api.context.sessions.begin() as session:
        repo.update_dub_status(
            session, dub["id"], "failed", error_code="media.unreadable", error_message="bad"
        )
    got = api.client.get(f"/v1/dubs/{dub['id']}", headers=api.a.headers).json()
    assert got["status"] == "failed"
    assert got["error"] == {"code": "media.unreadable", "message": "bad"}


def test_list_is_paginated_newest_first(api: ApiHarness, speech_clip: Path) -> None:
    upload_id = api.upload(speech_clip)
    ids = [api.create_dub(upload_id)["id"] for _ in range(3)]
    page = api.client.get("/v1/dubs?limit=2", headers=api.a.headers).json()
    assert [d["id"] for d in page["dubs"]] == ids[::-1][:2]
    assert page["has_more"] is True and page["next_cursor"]
    rest = api.client.get(
        "/v1/dubs", params={"limit": 2, "cursor": page["next_cursor"]}, headers=api.a.headers
    ).json()
    assert [d["id"] for d in rest["dubs"]] == ids[:1]
    assert rest["next_cursor"] is None and rest["has_more"] is False
    for query in ("limit=0", "limit=101", "cursor=garbage!"):
        bad = api.client.get(f"/v1/dubs?{query}", headers=api.a.headers)
        assert bad.status_code == 422, query


def test_cancel(api: ApiHarness, speech_clip: Path) -> None:
    dub = api.create_dub(api.upload(speech_clip))
    response = api.client.post(f"/v1/dubs/{dub['id']}/cancel", headers=api.a.headers)
    assert response.status_code == 202 and response.json()["id"] == dub["id"]
    assert api.launcher.cancelled == [dub["id"]]
    with api.context.sessions.begin() as session:
        repo.update_dub_status(session, dub["id"], "cancelled")
    again = api.client.post(f"/v1/dubs/{dub['id']}/cancel", headers=api.a.headers)
    assert again.status_code == 202 and again.json()["status"] == "cancelled"
    assert api.launcher.cancelled == [dub["id"]]  # finished: nothing more to cancel


def test_delete_removes_rows_and_objects(api: ApiHarness, speech_clip: Path) -> None:
    upload_id = api.upload(speech_clip)
    dub = api.create_dub(upload_id)
    store, prefix = api.context.store, f"dubs/{api.a.id}/{dub['id']}/"
    for name in ("work/analysis.json", "talk.pt.mp4", "manifest.json"):
        store.put_bytes(prefix + name, b"x")
    with api.context.sessions.begin() as session:
        repo.add_artifact(
            session,
            dub["id"],
            language="pt",
            kind="video",
            object_key=prefix + "talk.pt.mp4",
            size_bytes=1,
            content_type="video/mp4",
        )
    response = api.client.delete(f"/v1/dubs/{dub['id']}", headers=api.a.headers)
    assert response.status_code == 204 and response.content == b""
    assert api.launcher.cancelled == [dub["id"]]  # it was still queued
    assert store.list_keys(prefix) == []
    assert api.client.get(f"/v1/dubs/{dub['id']}", headers=api.a.headers).status_code == 404
    assert api.client.delete(f"/v1/dubs/{dub['id']}", headers=api.a.headers).status_code == 404
    with api.context.sessions.begin() as session:
        assert repo.list_artifacts(session, api.a.id, dub["id"]) == []
    # the upload is its own resource and stays
    assert store.exists(f"uploads/{api.a.id}/{upload_id}/source")


def test_openapi_describes_v1(api: ApiHarness) -> None:
    spec = api.client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {
        "/v1/uploads",
        "/v1/uploads/{upload_id}/content",
        "/v1/uploads/multipart",
        "/v1/dubs",
        "/v1/dubs/{dub_id}",
        "/v1/dubs/{dub_id}/events",
        "/v1/dubs/{dub_id}/cancel",
        "/v1/dubs/{dub_id}/artifacts/{language}/{kind}",
    } <= set(spec["paths"])
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


def test_unexpected_errors_are_500_json_without_traceback(api: ApiHarness) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/db")

    api.context.store.size = broken  # type: ignore[method-assign]
    ticket = api.client.post(
        "/v1/uploads", json={"filename": "a.mp4", "size_bytes": 5}, headers=api.a.headers
    ).json()
    response = api.client.get(f"/v1/uploads/{ticket['id']}", headers=api.a.headers)
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "Internal error; try again later."}
    }
