"""Glossary input: the CLI's CSV/JSON files and the tenant glossary API, on SQLite and the
record form shared by both; bad files and bodies get errors naming the entry."""

import json
from pathlib import Path

import pytest

from globalvoice.cli.glossary import read_glossary
from globalvoice.domain.errors import UserFacingError
from globalvoice.domain.glossary import GlossaryEntry, entry_from_record, entry_record
from tests.conftest import ApiHarness


def test_csv_and_json_files_give_the_same_entries(tmp_path: Path) -> None:
    csv_file = tmp_path / "terms.csv"
    csv_file.write_text(
        "term,translation,source_language,target_language,case_sensitive\n"
        "GlobalVoice,,,,true\n"
        "dubbing,doblaje,en,es,\n",
        encoding="utf-8",
    )
    json_file = tmp_path / "terms.json"
    json_file.write_text(
        json.dumps(
            [
                {"term": "GlobalVoice", "case_sensitive": True},
                {"term": "dubbing", "translation": "doblaje", "source_language": "en",
                 "target_language": "es"},
            ]
        )
    )  # fmt: skip
    expected = (
        GlossaryEntry(source="GlobalVoice", case_sensitive=True),
        GlossaryEntry(
            source="dubbing", target="doblaje", source_language="en", target_language="es"
        ),
    )
    assert read_glossary(csv_file) == expected
    assert read_glossary(json_file) == expected
    assert tuple(entry_from_record(entry_record(e)) for e in expected) == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "word,meaning\nx,y\n", "header row"),
        ("a.csv", "term,translation\n,nada\n", "entry 1: every glossary entry needs"),
        ("a.csv", "term,translation,target_language\nhi,hola,Spanish\n", "language code"),
        ("a.json", "{not json", "not valid JSON"),
        ("a.json", '{"term": "x"}', "list of objects"),
        ("a.json", '[{"term": "x", "colour": "red"}]', "unknown glossary field"),
        ("a.json", '[{"term": "x", "case_sensitive": "maybe"}]', "true or false"),
    ],
)
def test_bad_glossary_files_say_what_is_wrong(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserFacingError, match=message) as caught:
        read_glossary(path)
    assert str(path) in str(caught.value)


def test_missing_glossary_file(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="Cannot read the glossary"):
        read_glossary(tmp_path / "nope.csv")


def test_tenant_glossary_api(api: ApiHarness) -> None:
    a, b = api.a, api.b
    assert api.client.get("/v1/glossary", headers=a.headers).json() == {"entries": []}
    body = {"entries": [{"term": "GlobalVoice"}, {"term": "dub", "translation": "doblaje",
                                                 "target_language": "es"}]}  # fmt: skip
    put = api.client.put("/v1/glossary", json=body, headers=a.headers)
    assert put.status_code == 200, put.text
    got = api.client.get("/v1/glossary", headers=a.headers).json()["entries"]
    assert [(e["term"], e["translation"], e["target_language"]) for e in got] == [
        ("GlobalVoice", None, None),
        ("dub", "doblaje", "es"),
    ]
    assert api.client.get("/v1/glossary", headers=b.headers).json() == {"entries": []}
    bad = api.client.put(
        "/v1/glossary", json={"entries": [{"term": "x", "target_language": "Spanish"}]},
        headers=a.headers,
    )  # fmt: skip
    assert bad.status_code == 422 and "target_language" in bad.text
    cleared = api.client.put("/v1/glossary", json={"entries": []}, headers=a.headers)
    assert cleared.status_code == 200
    assert api.client.get("/v1/glossary", headers=a.headers).json() == {"entries": []}
    assert api.client.get("/v1/glossary").status_code == 401


def test_a_dub_translates_with_the_tenant_glossary_and_its_own(
    api: ApiHarness, speech_clip: Path
) -> None:
    """The job carries the merged glossary: the dub's entry replaces the tenant's for the same
    term, the tenant's others stay; the dub keeps it even after the tenant's changes."""
    a = api.a
    tenant = {"entries": [{"term": "country", "translation": "patria"}, {"term": "Americans"}]}
    assert api.client.put("/v1/glossary", json=tenant, headers=a.headers).status_code == 200
    upload_id = api.upload(speech_clip)
    body = {
        "upload_id": upload_id,
        "target_languages": ["es"],
        "glossary": [{"term": "country", "translation": "nación", "target_language": "es"},
                     {"term": "fellow", "translation": "compatriotas"}],
    }  # fmt: skip
    created = api.client.post("/v1/dubs", json=body, headers=a.headers)
    assert created.status_code == 202, created.text
    records = [(e["term"], e["translation"]) for e in created.json()["glossary"]]
    # "country" (any target) and "country" (es only) are different rules; both are kept
    assert records == [
        ("country", "patria"),
        ("Americans", None),
        ("country", "nación"),
        ("fellow", "compatriotas"),
    ]
    job = api.launcher.started[-1]
    assert [(r["term"], r["translation"]) for r in job.glossary] == records
    api.client.put("/v1/glossary", json={"entries": []}, headers=a.headers)
    dub = api.client.get(f"/v1/dubs/{created.json()['id']}", headers=a.headers).json()
    assert [(e["term"], e["translation"]) for e in dub["glossary"]] == records
    bad = dict(body, glossary=[{"term": "  "}])
    assert api.client.post("/v1/dubs", json=bad, headers=a.headers).status_code == 422


def test_idempotency_key_covers_the_requests_own_glossary_only(
    api: ApiHarness, speech_clip: Path
) -> None:
    """A retried request is the same request after the tenant edits its glossary; a different
    glossary in the request is a different request."""
    a = api.a
    upload_id = api.upload(speech_clip)
    own = [{"term": "fellow", "translation": "compatriotas"}]
    body = {"upload_id": upload_id, "target_languages": ["es"], "glossary": own}
    headers = {**a.headers, "Idempotency-Key": "retry-1"}
    first = api.client.post("/v1/dubs", json=body, headers=headers)
    assert first.status_code == 202, first.text
    tenant = {"entries": [{"term": "country", "translation": "patria"}]}
    assert api.client.put("/v1/glossary", json=tenant, headers=a.headers).status_code == 200
    replay = api.client.post("/v1/dubs", json=body, headers=headers)
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == first.json()["id"]
    # the replay is the dub as it was made, without the tenant's later entry
    assert [e["term"] for e in replay.json()["glossary"]] == ["fellow"]
    other = dict(body, glossary=[{"term": "fellow", "translation": "colegas"}])
    conflict = api.client.post("/v1/dubs", json=other, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency.conflict"
    assert len(api.launcher.started) == 1
