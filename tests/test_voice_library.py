"""The voice library's contract, on SQLite (embedded) and on a real pgvector PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from globalvoice.domain.errors import UserFacingError
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.voices import LocalVoiceLibrary, VoiceLibrary
from globalvoice.storage.voices.vectors import combine, normalised

A, B = "ten_a", "ten_b"


def unit(seed: int) -> np.ndarray:
    return normalised(np.random.default_rng(seed).normal(size=256))


def near(vector: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector at exactly `cosine` from `vector`."""
    other = np.random.default_rng(seed).normal(size=vector.size)
    other -= (other @ vector) * vector
    other /= np.linalg.norm(other)
    return normalised(cosine * vector + np.sqrt(1 - cosine**2) * other)


@pytest.fixture(params=["local", "pgvector"])
def library(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VoiceLibrary]:
    store = LocalBlobStore(tmp_path / "objects")
    if request.param == "local":
        lib: VoiceLibrary = LocalVoiceLibrary(tmp_path / "voices.db", store)
    else:
        from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

        lib = PgVectorVoiceLibrary(request.getfixturevalue("pgvector_url"), store)
    yield lib
    lib.close()


def test_add_get_profile_reference(library: VoiceLibrary, tmp_path: Path) -> None:
    flac = tmp_path / "ref.flac"
    flac.write_bytes(b"fLaC reference")
    record = library.add(A, "  Ada  Lovelace ", unit(1) * 3, {"tts": {"voice": "af_x"}}, flac)
    assert record.id.startswith("voc_") and record.name == "Ada Lovelace"
    assert record.dims == 256 and record.n_videos == 0 and record.has_reference
    assert library.get(A, record.id) == record
    assert library.profile(A, record.id) == {"tts": {"voice": "af_x"}}
    assert library.reference_audio(A, record.id) == b"fLaC reference"
    stored = library.embedding(A, record.id)
    assert stored is not None and np.allclose(stored, unit(1), atol=1e-6)
    bare = library.add(A, "Bob", unit(2), {})
    assert not bare.has_reference and library.reference_audio(A, bare.id) is None


def test_bad_input_is_refused(library: VoiceLibrary) -> None:
    with pytest.raises(ValueError, match="256"):
        library.add(A, "x", np.ones(128), {})
    with pytest.raises(ValueError, match="zero"):
        library.add(A, "x", np.zeros(256), {})
    with pytest.raises(UserFacingError):
        library.add(A, "   ", unit(1), {})
    with pytest.raises(TypeError):
        library.add(A, "x", unit(1), {"bad": object()})
    with pytest.raises(UserFacingError, match="cursor"):
        library.list(A, cursor="not-a-cursor")


def test_match_best_above_threshold_and_tenant_only(library: VoiceLibrary) -> None:
    anchor = unit(10)
    same = library.add(A, "same", near(anchor, 0.9, 1), {})
    library.add(A, "other", near(anchor, 0.6, 2), {})
    theirs = library.add(B, "theirs", near(anchor, 0.99, 3), {})  # closer, but another tenant's
    found = library.match(A, anchor, 0.75)
    assert found is not None and found.record.id == same.id
    assert found.cosine == pytest.approx(0.9, abs=1e-4)
    assert library.match(A, anchor, 0.95) is None  # best is 0.9: below the threshold
    assert library.match("ten_nobody", anchor, 0.1) is None
    found_b = library.match(B, anchor, 0.75)
    assert found_b is not None and found_b.record.id == theirs.id


def test_list_pages_newest_first(library: VoiceLibrary) -> None:
    ids = [library.add(A, f"v{i}", unit(i), {}).id for i in range(5)]
    library.add(B, "not mine", unit(9), {})
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = library.list(A, limit=2, cursor=cursor)
        seen += [record.id for record in page]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_rename_and_tenant_isolation(library: VoiceLibrary) -> None:
    voice = library.add(A, "S1", unit(1), {"k": 1}, b"flac")
    renamed = library.rename(A, voice.id, "Narrator")
    assert renamed is not None and renamed.name == "Narrator"
    assert library.get(B, voice.id) is None
    assert library.rename(B, voice.id, "stolen") is None
    assert library.profile(B, voice.id) is None and library.embedding(B, voice.id) is None
    assert library.reference_audio(B, voice.id) is None
    assert not library.record_use(B, voice.id, "dub_x")
    assert not library.assign(B, "dub_x", "S1", voice.id)
    assert not library.delete(B, voice.id)
    assert library.merge(B, voice.id, library.add(B, "b", unit(2), {}).id) is None
    assert library.get(A, voice.id) is not None and library.list(B)[0][0].name == "b"


def test_record_use_traces_videos(library: VoiceLibrary) -> None:
    voice = library.add(A, "S1", unit(1), {})
    for source in ("dub_1", "dub_2", "dub_1", "sha256:abc"):
        assert library.record_use(A, voice.id, source)
    assert [use.source for use in library.uses(A, voice.id)] == ["dub_1", "dub_2", "sha256:abc"]
    record = library.get(A, voice.id)
    assert record is not None and record.n_videos == 3
    assert library.uses(B, voice.id) == []


def test_merge_combines_embeddings_uses_and_assignments(library: VoiceLibrary) -> None:
    keep = library.add(A, "keep", unit(1), {"who": "keep"}, b"keep-flac", weight=3.0)
    absorb = library.add(A, "absorb", unit(2), {"who": "absorb"}, b"absorb-flac", weight=1.0)
    library.record_use(A, keep.id, "dub_1")
    library.record_use(A, absorb.id, "dub_1")
    library.record_use(A, absorb.id, "dub_2")
    library.assign(A, "dub_2", "S2", absorb.id)
    with pytest.raises(ValueError, match="itself"):
        library.merge(A, keep.id, keep.id)
    merged = library.merge(A, keep.id, absorb.id)
    assert merged is not None and merged.id == keep.id and merged.weight == 4.0
    assert merged.n_videos == 2 and merged.name == "keep"
    expected = combine(unit(1), 3.0, unit(2), 1.0)
    stored = library.embedding(A, keep.id)
    assert stored is not None and np.allclose(stored, expected, atol=1e-5)
    assert np.linalg.norm(stored) == pytest.approx(1.0, abs=1e-5)
    assert library.profile(A, keep.id) == {"who": "keep"}
    assert library.reference_audio(A, keep.id) == b"keep-flac"
    assert library.get(A, absorb.id) is None and library.reference_audio(A, absorb.id) is None
    assert library.assignments(A, "dub_2") == {"S2": keep.id}
    assert library.merge(A, keep.id, absorb.id) is None


def test_assignments_per_dub_and_speaker(library: VoiceLibrary) -> None:
    one, two = library.add(A, "one", unit(1), {}), library.add(A, "two", unit(2), {})
    assert library.assign(A, "dub_1", "S1", one.id)
    assert library.assign(A, "dub_1", "S2", one.id)
    assert library.assign(A, "dub_1", "S2", two.id)  # a new choice replaces the old
    assert not library.assign(A, "dub_1", "S3", "voc_missing")
    assert library.assignments(A, "dub_1") == {"S1": one.id, "S2": two.id}
    assert library.assignments(B, "dub_1") == {}
    library.delete(A, two.id)
    assert library.assignments(A, "dub_1") == {"S1": one.id}


def test_pgvector_library_refuses_a_server_without_pgvector(
    postgres_url: str, tmp_path: Path
) -> None:
    """Debian's PostgreSQL (the service's main database here) has no pgvector: a clear error."""
    from globalvoice.domain.errors import ConfigError
    from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

    with pytest.raises(ConfigError, match="no pgvector"):
        PgVectorVoiceLibrary(postgres_url, LocalBlobStore(tmp_path))
    with pytest.raises(ConfigError, match="PostgreSQL"):
        PgVectorVoiceLibrary(f"sqlite:///{tmp_path / 'x.db'}", LocalBlobStore(tmp_path))


def test_one_pgvector_database_can_hold_the_service_and_the_voices(
    pgvector_url: str, tmp_path: Path
) -> None:
    """voice_index_url may be database_url: separate tables and Alembic version tables."""
    from sqlalchemy import inspect

    from globalvoice.storage.db.session import make_engine, migrate
    from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

    migrate(pgvector_url)
    library = PgVectorVoiceLibrary(pgvector_url, LocalBlobStore(tmp_path))
    library.add(A, "v", unit(1), {})
    migrate(pgvector_url)  # both at head: nothing to do
    library.close()
    library = PgVectorVoiceLibrary(pgvector_url, LocalBlobStore(tmp_path))
    assert len(library.list(A)[0]) == 1
    library.close()
    engine = make_engine(pgvector_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"dubs", "tenants", "alembic_version", "voices", "voice_alembic_version"} <= tables
