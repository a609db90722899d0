"""Deleting a voice (or merging it away) leaves no trace: biometric data.

After `delete`, no row of any table of the voice schema holds the voice's id, embedding or
profile; its reference FLAC is gone from the store (local folder; SeaweedFS S3); `match` cannot
return it; on pgvector the HNSW index does not return it either; on SQLite not even the bytes
are left in the database files (secure_delete and a truncating WAL checkpoint).
"""

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, inspect, text

from globalvoice.config.settings import Settings
from globalvoice.engines import registry
from globalvoice.media.pcm import decode_audio
from globalvoice.storage.blobs import BlobStore, LocalBlobStore, S3BlobStore
from globalvoice.storage.layout import reference_key, voice_prefix
from globalvoice.storage.voices import LocalVoiceLibrary, VoiceLibrary
from globalvoice.storage.voices.library import SqlVoiceLibrary
from tests.services import SeaweedFS

TENANT, OTHER = "ten_a", "ten_b"


@pytest.fixture(scope="module")
def real_voices(media: Path) -> list[tuple[Path, np.ndarray]]:
    """Three LibriSpeech readers: (FLAC, d-vector of the utterance) each."""
    embedder = registry.build_speaker(Settings())
    out = []
    for reader in ("1688", "2414", "3331"):
        flac = sorted((media / "speech" / "librispeech").glob(f"{reader}-*.flac"))[0]
        audio = decode_audio(flac, rate_hz=16_000)
        vector = embedder.embed_spans(audio, [(0, audio.duration_ms)])[0]
        out.append((flac, vector))
    return out


def _vector(cell: Any) -> np.ndarray | None:
    if isinstance(cell, bytes | memoryview) and len(cell) == 256 * 4:
        return np.frombuffer(bytes(cell), dtype=np.float32)
    if isinstance(cell, str) and cell.startswith("[") and cell.count(",") == 255:
        return np.array([float(x) for x in cell.strip("[]").split(",")], dtype=np.float32)
    return None


def traces(engine: Engine, voice_id: str, embedding: np.ndarray, marker: str) -> list[str]:
    """Every (table, what) of every table in the database that still holds the voice."""
    found = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):  # noqa: S608
                for cell in row:
                    vector = _vector(cell)
                    if vector is not None and np.allclose(vector, embedding, atol=1e-4):
                        found.append(f"{table}: embedding")
                    if voice_id in str(cell):
                        found.append(f"{table}: id")
                    if marker in str(cell):
                        found.append(f"{table}: profile")
    return found


def populate(
    library: VoiceLibrary, voices: list[tuple[Path, np.ndarray]], marker: str
) -> tuple[str, str]:
    """The doomed voice (with uses, an assignment, a reference) and a voice it merges into."""
    (flac, vector), (flac2, vector2), (flac3, vector3) = voices
    doomed = library.add(TENANT, "doomed", vector, {"secret": marker}, flac, weight=2.0)
    keep = library.add(TENANT, "keeper", vector2, {"k": 1}, flac2)
    library.add(OTHER, "other tenant", vector3, {"k": 2}, flac3)
    library.record_use(TENANT, doomed.id, "dub_1")
    library.record_use(TENANT, keep.id, "dub_1")
    library.assign(TENANT, "dub_1", "S1", doomed.id)
    return doomed.id, keep.id


def check_gone(
    library: SqlVoiceLibrary,
    store: BlobStore,
    doomed: str,
    embedding: np.ndarray,
    marker: str,
    remove: Callable[[], None],
) -> None:
    key = reference_key(TENANT, doomed)
    assert store.exists(key)
    before = traces(library.engine, doomed, embedding, marker)
    assert {"voices: embedding", "voices: id", "voices: profile"} <= set(before)
    assert any(t.startswith("voice_uses") for t in before)
    assert any(t.startswith("voice_assignments") for t in before)

    remove()

    assert traces(library.engine, doomed, embedding, marker) == []
    assert not store.exists(key) and store.list_keys(voice_prefix(TENANT, doomed)) == []
    assert library.get(TENANT, doomed) is None and library.reference_audio(TENANT, doomed) is None
    found = library.match(TENANT, embedding, -1.0)  # any voice at all: never the deleted one
    assert found is not None and found.record.id != doomed
    assert all(r.id != doomed for r in library.list(TENANT, limit=100)[0])


def sqlite_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


@pytest.mark.parametrize("operation", ["delete", "merge"])
def test_local_library_forgets_everything(
    operation: str, tmp_path: Path, real_voices: list[tuple[Path, np.ndarray]]
) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    library = LocalVoiceLibrary(tmp_path / "voices.db", store)
    marker = f"marker-{secrets.token_hex(8)}"
    doomed, keep = populate(library, real_voices, marker)
    embedding = library.embedding(TENANT, doomed)
    assert embedding is not None
    reference_file = store.local_path(reference_key(TENANT, doomed))
    assert reference_file is not None and reference_file.is_file()
    raw = sqlite_bytes(library.path)
    assert marker.encode() in raw and embedding.tobytes() in raw

    def remove() -> None:
        if operation == "delete":
            assert library.delete(TENANT, doomed)
        else:
            assert library.merge(TENANT, keep, doomed) is not None

    check_gone(library, store, doomed, embedding, marker, remove)
    assert not reference_file.exists() and not reference_file.parent.exists()
    raw = sqlite_bytes(library.path)
    assert marker.encode() not in raw and embedding.tobytes() not in raw
    assert doomed.encode() not in raw
    library.close()


@pytest.fixture()
def s3_store(seaweedfs: SeaweedFS) -> Iterator[S3BlobStore]:
    yield S3BlobStore(seaweedfs.storage(f"gv-voices-{secrets.token_hex(6)}"))


def hnsw_ids(engine: Engine, embedding: np.ndarray, tenant: str | None) -> list[str]:
    """Nearest voices, of every tenant through the HNSW index (sequential scans disabled, the plan
    checked), or of one tenant as `match` asks (the planner may prefer the tenant index)."""
    literal = "[" + ",".join(f"{x:.8f}" for x in embedding) + "]"
    where = "WHERE tenant_id = :tenant" if tenant else ""
    query = f"SELECT id FROM voices {where} ORDER BY embedding <=> :q LIMIT 10"  # noqa: S608
    params = {"q": literal, "tenant": tenant}
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        connection.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
        plan = "\n".join(r[0] for r in connection.execute(text(f"EXPLAIN {query}"), params))
        assert tenant or "ix_voices_embedding_hnsw" in plan, plan
        return [r[0] for r in connection.execute(text(query), params)]


@pytest.mark.parametrize("operation", ["delete", "merge"])
def test_pgvector_library_forgets_everything(
    operation: str,
    pgvector_url: str,
    s3_store: S3BlobStore,
    seaweedfs: SeaweedFS,
    real_voices: list[tuple[Path, np.ndarray]],
) -> None:
    from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

    library = PgVectorVoiceLibrary(pgvector_url, s3_store)
    marker = f"marker-{secrets.token_hex(8)}"
    doomed, keep = populate(library, real_voices, marker)
    embedding = library.embedding(TENANT, doomed)
    assert embedding is not None
    assert hnsw_ids(library.engine, embedding, None)[0] == doomed
    assert hnsw_ids(library.engine, embedding, TENANT)[0] == doomed

    def remove() -> None:
        if operation == "delete":
            assert library.delete(TENANT, doomed)
        else:
            assert library.merge(TENANT, keep, doomed) is not None

    check_gone(library, s3_store, doomed, embedding, marker, remove)
    assert doomed not in hnsw_ids(library.engine, embedding, None)
    assert doomed not in hnsw_ids(library.engine, embedding, TENANT)
    listed = seaweedfs.client().list_objects_v2(Bucket=s3_store.bucket, Prefix="voices/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert keys and all(doomed not in key for key in keys)
    library.close()
