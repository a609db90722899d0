"""The repository on a fresh PostgreSQL database and on SQLite, both migrated by Alembic."""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from globalvoice.domain.errors import IdempotencyConflict, NotFound, UserFacingError
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import Base, Dub
from globalvoice.storage.db.session import make_engine, migrate, session_factory


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'globalvoice.db'}"  # the folder does not exist yet
        migrate(url)
    else:
        url = request.getfixturevalue("postgres_url")  # created, migrated, dropped at the end
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture()
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture()
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


def stored_upload(session: Session, tenant_id: str) -> str:
    upload = repo.create_upload(
        session, tenant_id, filename="talk.mp4", content_type="video/mp4", size_bytes=1234
    )
    repo.mark_upload_stored(session, tenant_id, upload.id, size_bytes=1200)
    return upload.id


def new_dub(session: Session, tenant_id: str, **kwargs: object) -> Dub:
    upload_id = stored_upload(session, tenant_id)
    dub, created = repo.create_dub(
        session, tenant_id, repo.NewDub(upload_id=upload_id, target_languages=["pt"], **kwargs)
    )
    assert created
    return dub


def test_migrations_match_the_models(engine: Engine) -> None:
    migrate(engine.url.render_as_string(hide_password=False))  # a second run changes nothing
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0002"


def test_tenant_scoping(session: Session) -> None:
    mine, theirs = repo.create_tenant(session, "mine"), repo.create_tenant(session, "theirs")
    dub = new_dub(session, mine.id)
    repo.add_artifact(
        session,
        dub.id,
        language="pt",
        kind="video",
        object_key=f"{repo.dub_prefix(mine.id, dub.id)}video.pt.mp4",
        size_bytes=10,
        content_type="video/mp4",
    )
    session.commit()
    assert repo.get_dub(session, mine.id, dub.id) is not None
    assert repo.get_dub(session, theirs.id, dub.id) is None
    assert repo.get_upload(session, theirs.id, dub.upload_id) is None
    assert repo.mark_upload_stored(session, theirs.id, dub.upload_id) is None
    assert repo.list_dubs(session, theirs.id) == ([], None)
    assert repo.list_artifacts(session, theirs.id, dub.id) == []
    assert len(repo.list_artifacts(session, mine.id, dub.id)) == 1
    assert repo.delete_dub(session, theirs.id, dub.id) is None
    with pytest.raises(NotFound):  # another tenant's upload cannot be dubbed
        repo.create_dub(
            session, theirs.id, repo.NewDub(upload_id=dub.upload_id, target_languages=["pt"])
        )
    assert repo.get_dub(session, mine.id, dub.id) is not None


def test_upload_must_be_stored(session: Session) -> None:
    tenant = repo.create_tenant(session, "t")
    upload = repo.create_upload(
        session, tenant.id, filename="a.mp4", content_type="video/mp4", size_bytes=5
    )
    assert upload.status == "pending"
    assert upload.object_key == f"uploads/{tenant.id}/{upload.id}/source"
    with pytest.raises(NotFound):
        repo.create_dub(
            session, tenant.id, repo.NewDub(upload_id=upload.id, target_languages=["pt"])
        )
    stored = repo.mark_upload_stored(session, tenant.id, upload.id, size_bytes=4)
    assert stored is not None and (stored.status, stored.size_bytes) == ("stored", 4)


def test_idempotency(session: Session) -> None:
    tenant, other = repo.create_tenant(session, "t"), repo.create_tenant(session, "o")
    upload_id = stored_upload(session, tenant.id)
    request = {"upload_id": upload_id, "target_languages": ["pt", "ja"], "options": {"a": 1}}
    first, created = repo.create_dub(
        session, tenant.id, repo.NewDub(idempotency_key="k1", **request)
    )
    assert created and first.status == "queued" and first.workflow_id.endswith(first.id)
    session.commit()
    again, created = repo.create_dub(
        session, tenant.id, repo.NewDub(idempotency_key="k1", **request)
    )
    assert (again.id, created) == (first.id, False)
    with pytest.raises(IdempotencyConflict):
        repo.create_dub(
            session,
            tenant.id,
            repo.NewDub(idempotency_key="k1", upload_id=upload_id, target_languages=["pt"]),
        )
    fresh, created = repo.create_dub(
        session, tenant.id, repo.NewDub(idempotency_key="k2", **request)
    )
    assert created and fresh.id != first.id
    unkeyed = [repo.create_dub(session, tenant.id, repo.NewDub(**request))[0].id for _ in range(2)]
    assert len(set(unkeyed)) == 2
    other_upload = stored_upload(session, other.id)
    theirs, created = repo.create_dub(
        session,
        other.id,
        repo.NewDub(idempotency_key="k1", upload_id=other_upload, target_languages=["pt"]),
    )
    assert created and theirs.id != first.id  # keys are per tenant
    session.commit()


def test_idempotency_race(sessions: sessionmaker[Session]) -> None:
    """Two transactions with the same key: the second waits for the first, then replays it."""
    with sessions() as setup:
        tenant = repo.create_tenant(setup, "t")
        upload_id = stored_upload(setup, tenant.id)
        setup.commit()
    results: list[tuple[str, bool]] = []
    with sessions() as first:
        dub, _ = repo.create_dub(
            first,
            tenant.id,
            repo.NewDub(idempotency_key="race", upload_id=upload_id, target_languages=["pt"]),
        )

        def second() -> None:
            with sessions() as session:
                row, created = repo.create_dub(
                    session,
                    tenant.id,
                    repo.NewDub(
                        idempotency_key="race", upload_id=upload_id, target_languages=["pt"]
                    ),
                )
                session.commit()
                results.append((row.id, created))

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second transaction is now waiting on the first
        assert results == []
        first.commit()
    thread.join(timeout=30)
    assert results == [(dub.id, False)]


def test_pagination_cursor(session: Session) -> None:
    tenant, other = repo.create_tenant(session, "t"), repo.create_tenant(session, "o")
    dubs = [new_dub(session, tenant.id) for _ in range(7)]
    new_dub(session, other.id)
    same = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    for index, dub in enumerate(dubs):  # three share a timestamp: the id breaks the tie
        dub.created_at = same if index < 3 else same + timedelta(seconds=index)
    session.commit()
    expected = [d.id for d in sorted(dubs, key=lambda d: (d.created_at, d.id), reverse=True)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(4):
        page, cursor = repo.list_dubs(session, tenant.id, limit=2, cursor=cursor)
        seen += [dub.id for dub in page]
        if cursor is None:
            break
    assert seen == expected
    assert cursor is None
    everything, last = repo.list_dubs(session, tenant.id, limit=7)
    assert [d.id for d in everything] == expected and last is None
    first_page, cursor = repo.list_dubs(session, tenant.id, limit=3)
    new_dub(session, tenant.id)  # a newer dub does not shift the pages after the cursor
    session.commit()
    rest, _ = repo.list_dubs(session, tenant.id, limit=10, cursor=cursor)
    assert [d.id for d in first_page + rest] == expected
    for bad in ("not-a-cursor", "WyJ4Il0", "bnVsbA"):
        with pytest.raises(UserFacingError):
            repo.list_dubs(session, tenant.id, cursor=bad)


def test_api_keys_are_hashed(session: Session) -> None:
    tenant = repo.create_tenant(session, "t")
    row, plaintext = repo.create_api_key(session, tenant.id, "ci")
    session.commit()
    prefix, secret = plaintext.split("_", 2)[1:]
    assert plaintext.startswith("gv_") and row.prefix == prefix and len(secret) >= 40
    assert len(row.key_hash) == 64 and row.key_hash != plaintext
    for table in Base.metadata.sorted_tables:  # the key is nowhere in the database
        for values in session.execute(select(table)):
            for value in values:
                assert secret not in str(value) and plaintext not in str(value)
    found = repo.tenant_for_key(session, plaintext)
    assert found is not None and found.id == tenant.id
    for wrong in (plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), "gv_", "", "x_y_z"):
        assert repo.tenant_for_key(session, wrong) is None
    assert repo.tenant_for_key(session, f"gv_{prefix}_{secret}x") is None
    other = repo.create_tenant(session, "o")
    assert not repo.revoke_api_key(session, other.id, row.id)  # not theirs
    assert repo.revoke_api_key(session, tenant.id, row.id)
    session.commit()
    assert repo.tenant_for_key(session, plaintext) is None
    assert [k.id for k in repo.list_api_keys(session, tenant.id)] == [row.id]
    assert repo.list_api_keys(session, other.id) == []


def test_delete_cascades_to_artifacts(session: Session) -> None:
    tenant = repo.create_tenant(session, "t")
    dub, keep = new_dub(session, tenant.id), new_dub(session, tenant.id)
    for target in (dub, keep):
        for kind in ("video", "subtitles"):
            repo.add_artifact(
                session,
                target.id,
                language="pt",
                kind=kind,
                object_key=f"{repo.dub_prefix(tenant.id, target.id)}{kind}",
                size_bytes=1,
                content_type="application/octet-stream",
            )
    repo.add_artifact(  # the same (language, kind) again replaces the row
        session,
        dub.id,
        language="pt",
        kind="video",
        object_key=f"{repo.dub_prefix(tenant.id, dub.id)}video.pt.mp4",
        size_bytes=99,
        content_type="video/mp4",
    )
    session.commit()
    artifacts = repo.list_artifacts(session, tenant.id, dub.id)
    assert [(a.kind, a.size_bytes) for a in artifacts] == [("subtitles", 1), ("video", 99)]
    assert repo.delete_dub(session, tenant.id, dub.id) == [f"dubs/{tenant.id}/{dub.id}/"]
    session.commit()
    count = text("SELECT count(*) FROM dub_artifacts WHERE dub_id = :id")
    assert session.execute(count, {"id": dub.id}).scalar() == 0  # the database cascaded
    assert session.execute(count, {"id": keep.id}).scalar() == 2
    assert repo.get_dub(session, tenant.id, dub.id) is None
    assert repo.delete_dub(session, tenant.id, dub.id) is None


def test_status_and_progress(session: Session) -> None:
    tenant = repo.create_tenant(session, "t")
    dub = new_dub(session, tenant.id)
    session.commit()
    created, updated = dub.created_at, dub.updated_at
    assert created.tzinfo is not None
    running = repo.update_dub_status(session, dub.id, "running", detected_language="en")
    assert running is not None and running.status == "running"
    repo.update_dub_progress(session, dub.id, "synthesize", "pt", done=3, total=10)
    repo.update_dub_progress(session, dub.id, "synthesize", "ja", done=1, total=8)
    repo.update_dub_progress(session, dub.id, "synthesize", "pt", done=4, total=10)
    repo.update_dub_progress(session, dub.id, "analyse", "", done=1, total=1)
    session.commit()
    session.expire_all()
    row = repo.get_dub(session, tenant.id, dub.id)
    assert row is not None
    assert row.progress == {
        "synthesize": {"pt": {"done": 4, "total": 10}, "ja": {"done": 1, "total": 8}},
        "analyse": {"": {"done": 1, "total": 1}},
    }
    assert row.detected_language == "en" and row.updated_at >= updated
    manifest = {"outputs": ["video.pt.mp4"]}
    repo.update_dub_status(session, dub.id, "succeeded", manifest=manifest)
    late = repo.update_dub_status(session, dub.id, "failed", error_code="x", error_message="y")
    session.commit()
    assert late is not None and late.status == "succeeded" and late.error_code is None
    assert late.manifest == manifest
    assert repo.update_dub_status(session, "dub_missing", "running") is None
    with pytest.raises(ValueError):
        repo.update_dub_status(session, dub.id, "paused")  # type: ignore[arg-type]
