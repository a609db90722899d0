"""GET /v1/dubs/{id}/events: Server-Sent Events from the EventBus, snapshot first."""

import json
from collections.abc import Iterator
from pathlib import Path

from globalvoice.storage.db import repo
from tests.conftest import ApiHarness


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, object]]:
    """(event name, data) per event; ("comment", text) for keep-alive comments."""
    name, data = "message", ""
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


def test_snapshot_then_live_events_until_finished(api: ApiHarness, speech_clip: Path) -> None:
    dub = api.create_dub(api.upload(speech_clip))
    progress = {"type": "progress", "stage": "synthesize", "language": "pt", "done": 3, "total": 9}
    finished = {"type": "status", "status": "succeeded", "detected_language": "en"}
    with api.client.stream("GET", f"/v1/dubs/{dub['id']}/events", headers=api.a.headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
        name, snapshot = next(events)
        assert name == "snapshot"
        assert isinstance(snapshot, dict) and snapshot["id"] == dub["id"]
        assert snapshot["status"] == "queued"
        # the subscription exists before the snapshot is sent: nothing published now is lost
        api.events.publish(dub["id"], {"type": "status", "status": "running"})
        api.events.publish(dub["id"], progress)
        api.events.publish("dub_other", {"type": "status", "status": "failed"})  # not ours
        api.events.publish(dub["id"], finished)
        rest = [e for e in events if e[0] != "comment"]
    assert rest == [
        ("status", {"type": "status", "status": "running"}),
        ("progress", progress),
        ("status", finished),
    ]  # and the stream ended after the terminal status


def test_finished_dub_sends_its_snapshot_and_ends(api: ApiHarness, speech_clip: Path) -> None:
    dub = api.create_dub(api.upload(speech_clip))
    with api.context.sessions.begin() as session:
        repo.update_dub_status(session, dub["id"], "failed", error_code="x", error_message="y")
    response = api.client.get(f"/v1/dubs/{dub['id']}/events", headers=api.a.headers)
    [(name, snapshot)] = list(sse_events(iter(response.text.splitlines())))
    assert name == "snapshot" and isinstance(snapshot, dict)
    assert snapshot["status"] == "failed" and snapshot["error"] == {"code": "x", "message": "y"}


def test_keep_alive_and_a_missed_terminal_event(api: ApiHarness, speech_clip: Path) -> None:
    """Comments keep the stream open; a status recorded without an event still ends it."""
    dub = api.create_dub(api.upload(speech_clip))
    with api.client.stream("GET", f"/v1/dubs/{dub['id']}/events", headers=api.a.headers) as r:
        events = sse_events(r.iter_lines())
        assert next(events)[0] == "snapshot"
        assert next(events) == ("comment", "keep-alive")  # keepalive_s is 0.3 s in tests
        with api.context.sessions.begin() as session:
            repo.update_dub_status(session, dub["id"], "cancelled")
        rest = [e for e in events if e[0] != "comment"]
    assert len(rest) == 1 and rest[0][0] == "snapshot"
    assert isinstance(rest[0][1], dict) and rest[0][1]["status"] == "cancelled"


def test_unknown_dub_is_404_json(api: ApiHarness) -> None:
    response = api.client.get("/v1/dubs/dub_missing/events", headers=api.a.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
