"""/v1/voices and a dub speaker's voice: tenant-isolated, JSON errors, 501 without a library."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from globalvoice.api.app import create_app
from globalvoice.storage.db import repo
from globalvoice.storage.layout import reference_key
from globalvoice.storage.voices import LocalVoiceLibrary
from tests.conftest import ApiHarness, build_api

pytestmark = pytest.mark.usefixtures("voice_matching_on")


@dataclasses.dataclass
class VoiceApi:
    api: ApiHarness
    library: LocalVoiceLibrary

    def add(
        self, tenant_id: str, name: str, seed: int = 0, reference: bytes | None = b"fLaC"
    ) -> str:
        vector = np.random.default_rng(seed).normal(size=256)
        return self.library.add(tenant_id, name, vector, {"seed": seed}, reference).id


@pytest.fixture()
def vapi(tmp_path: Path) -> Iterator[VoiceApi]:
    harness = build_api(tmp_path)
    library = LocalVoiceLibrary(tmp_path / "voices.db", harness.context.store)
    context = dataclasses.replace(harness.context, voices=library)
    client = TestClient(create_app(context), raise_server_exceptions=False)
    with client:
        yield VoiceApi(dataclasses.replace(harness, client=client, context=context), library)
    library.close()


def test_without_a_library_the_api_says_so(api: ApiHarness) -> None:
    for method, path, body in [
        ("GET", "/v1/voices", None),
        ("GET", "/v1/voices/voc_x", None),
        ("PATCH", "/v1/voices/voc_x", {"name": "n"}),
        ("POST", "/v1/voices/voc_x/merge", {"absorb_id": "voc_y"}),
        ("DELETE", "/v1/voices/voc_x", None),
        ("PUT", "/v1/dubs/dub_x/speakers/S1/voice", {"voice_id": "voc_x"}),
    ]:
        response = api.client.request(method, path, json=body, headers=api.a.headers)
        assert response.status_code == 501, (method, path, response.text)
        assert response.json()["error"] == {
            "code": "feature.unavailable",
            "message": "This server has no voice library configured.",
        }


def test_list_pages_get_rename(vapi: VoiceApi) -> None:
    api, a = vapi.api, vapi.api.a
    ids = [vapi.add(a.id, f"voice {i}", seed=i) for i in range(3)]
    vapi.library.record_use(a.id, ids[0], "dub_1")
    first = api.client.get("/v1/voices", params={"limit": 2}, headers=a.headers).json()
    assert [v["id"] for v in first["voices"]] == ids[:0:-1] and first["has_more"]
    rest = api.client.get(
        "/v1/voices", params={"cursor": first["next_cursor"]}, headers=a.headers
    ).json()
    assert [v["id"] for v in rest["voices"]] == [ids[0]] and rest["next_cursor"] is None
    one = api.client.get(f"/v1/voices/{ids[0]}", headers=a.headers).json()
    assert one["name"] == "voice 0" and one["n_videos"] == 1 and one["dims"] == 256
    assert one["has_reference"] and [u["source"] for u in one["uses"]] == ["dub_1"]
    renamed = api.client.patch(f"/v1/voices/{ids[0]}", json={"name": "Ada"}, headers=a.headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada"
    blank = api.client.patch(f"/v1/voices/{ids[0]}", json={"name": "  "}, headers=a.headers)
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "input.invalid"
    bad = api.client.get("/v1/voices", params={"cursor": "zzz"}, headers=a.headers)
    assert bad.status_code == 422


def test_merge_and_delete(vapi: VoiceApi) -> None:
    api, a = vapi.api, vapi.api.a
    keep, absorb = vapi.add(a.id, "keep", 1), vapi.add(a.id, "absorb", 2)
    self_merge = api.client.post(
        f"/v1/voices/{keep}/merge", json={"absorb_id": keep}, headers=a.headers
    )
    assert self_merge.status_code == 422
    merged = api.client.post(
        f"/v1/voices/{keep}/merge", json={"absorb_id": absorb}, headers=a.headers
    )
    assert merged.status_code == 200 and merged.json()["id"] == keep
    assert api.client.get(f"/v1/voices/{absorb}", headers=a.headers).status_code == 404
    assert not api.context.store.exists(reference_key(a.id, absorb))
    again = api.client.post(
        f"/v1/voices/{keep}/merge", json={"absorb_id": absorb}, headers=a.headers
    )
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert api.client.delete(f"/v1/voices/{keep}", headers=a.headers).status_code == 204
    assert api.client.get(f"/v1/voices/{keep}", headers=a.headers).status_code == 404
    assert api.client.delete(f"/v1/voices/{keep}", headers=a.headers).status_code == 404
    assert not api.context.store.exists(reference_key(a.id, keep))
    assert api.client.get("/v1/voices", headers=a.headers).json()["voices"] == []


def test_another_tenants_voice_reads_as_missing(vapi: VoiceApi) -> None:
    api, a, b = vapi.api, vapi.api.a, vapi.api.b
    mine, theirs = vapi.add(a.id, "mine", 1), vapi.add(b.id, "theirs", 2)
    assert api.client.get("/v1/voices", headers=b.headers).json()["voices"][0]["id"] == theirs
    for method, path, body in [
        ("GET", f"/v1/voices/{mine}", None),
        ("PATCH", f"/v1/voices/{mine}", {"name": "stolen"}),
        ("POST", f"/v1/voices/{mine}/merge", {"absorb_id": theirs}),
        ("POST", f"/v1/voices/{theirs}/merge", {"absorb_id": mine}),
        ("DELETE", f"/v1/voices/{mine}", None),
    ]:
        response = api.client.request(method, path, json=body, headers=b.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    record = vapi.library.get(a.id, mine)
    assert record is not None and record.name == "mine"
    assert vapi.library.get(b.id, theirs) is not None
    assert api.client.get("/v1/voices", headers={}).status_code == 401


def test_assign_a_library_voice_to_a_dub_speaker(vapi: VoiceApi, speech_clip: Path) -> None:
    api, a, b = vapi.api, vapi.api.a, vapi.api.b
    dub_id = api.create_dub(api.upload(speech_clip))["id"]
    voice, other = vapi.add(a.id, "narrator", 1), vapi.add(a.id, "guest", 2)
    theirs = vapi.add(b.id, "theirs", 3)
    url = f"/v1/dubs/{dub_id}/speakers/S2/voice"
    put = api.client.put(url, json={"voice_id": voice}, headers=a.headers)
    assert put.status_code == 200, put.text
    assert put.json() == {"dub_id": dub_id, "voices": {"S2": voice}}
    put = api.client.put(url, json={"voice_id": other}, headers=a.headers)
    assert put.json()["voices"] == {"S2": other}
    assert vapi.library.assignments(a.id, dub_id) == {"S2": other}
    assert api.client.put(url, json={"voice_id": theirs}, headers=a.headers).status_code == 404
    assert api.client.put(url, json={"voice_id": voice}, headers=b.headers).status_code == 404
    bad = api.client.put(
        f"/v1/dubs/{dub_id}/speakers/nobody/voice", json={"voice_id": voice}, headers=a.headers
    )
    assert bad.status_code == 422
    with api.context.sessions.begin() as session:  # analysed: the dub knows its speakers
        repo.update_dub_status(
            session, dub_id, "running", manifest={"speakers": [{"speaker_id": "S1"}]}
        )
    unknown = api.client.put(url, json={"voice_id": voice}, headers=a.headers)
    assert unknown.status_code == 404 and "S2" in unknown.json()["error"]["message"]
    s1 = api.client.put(
        f"/v1/dubs/{dub_id}/speakers/S1/voice", json={"voice_id": voice}, headers=a.headers
    )
    assert s1.json()["voices"] == {"S1": voice, "S2": other}
    api.client.delete(f"/v1/voices/{other}", headers=a.headers)
    assert vapi.library.assignments(a.id, dub_id) == {"S1": voice}
