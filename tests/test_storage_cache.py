"""ArtifactCache over a local folder (the CLI's layout) and over a real S3 bucket."""

import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter

from globalvoice.domain.audio import Pcm
from globalvoice.storage.blobs import LocalBlobStore, S3BlobStore
from globalvoice.storage.cache import ArtifactCache
from tests.services import SeaweedFS


@dataclass(frozen=True, slots=True, kw_only=True)
class _Record:
    text: str
    spans: tuple[tuple[int, int], ...]


_RECORD = TypeAdapter(_Record)
_INTS = TypeAdapter(list[int])


@pytest.fixture(params=["local", "s3"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactCache:
    if request.param == "local":
        return ArtifactCache.local(tmp_path)
    server: SeaweedFS = request.getfixturevalue("seaweedfs")
    store = S3BlobStore(server.storage(f"gv-cache-{secrets.token_hex(6)}"))
    return ArtifactCache(store)


def test_model_and_pcm_round_trip(cache: ArtifactCache) -> None:
    key = "ab" + secrets.token_hex(31)
    record = _Record(text="olá", spans=((0, 1200), (1500, 2100)))
    assert cache.get_model(key, _RECORD) is None
    cache.put_model(key, record, _RECORD)
    assert cache.get_model(key, _RECORD) == record
    samples = np.linspace(-1, 1, 24_000, dtype=np.float32)
    assert cache.get_pcm(key) is None
    cache.put_pcm(key, Pcm(samples=samples, rate_hz=24_000))
    pcm = cache.get_pcm(key)
    assert pcm is not None and pcm.rate_hz == 24_000
    np.testing.assert_array_equal(pcm.samples, samples)
    assert (cache.hits, cache.misses) == (2, 2)
    assert cache.store.list_keys("artifacts/") == [
        f"artifacts/ab/{key}.json",
        f"artifacts/ab/{key}.npz",
    ]


def test_local_layout_is_the_clis(tmp_path: Path) -> None:
    cache = ArtifactCache.local(tmp_path)
    cache.put_model("cafe01", [1, 2], _INTS)
    assert (tmp_path / "artifacts" / "ca" / "cafe01.json").read_text() == "[1,2]"
    assert ArtifactCache(LocalBlobStore(tmp_path)).get_model("cafe01", _INTS) == [1, 2]
    other = ArtifactCache(LocalBlobStore(tmp_path), prefix="elsewhere/")
    other.put_model("cafe01", [3], _INTS)
    assert (tmp_path / "elsewhere" / "ca" / "cafe01.json").exists()


def test_disabled_cache_neither_reads_nor_writes(tmp_path: Path) -> None:
    ArtifactCache.local(tmp_path).put_model("beef", [1], _INTS)
    cache = ArtifactCache.local(tmp_path, enabled=False)
    assert cache.get_model("beef", _INTS) is None
    cache.put_model("feed", [2], _INTS)
    cache.put_pcm("feed", Pcm(samples=np.zeros(10, dtype=np.float32), rate_hz=16_000))
    assert cache.get_pcm("feed") is None
    assert (cache.hits, cache.misses) == (0, 2)
    assert not (tmp_path / "artifacts" / "fe").exists()


def test_a_payload_of_another_shape_reads_as_a_miss(tmp_path: Path) -> None:
    cache = ArtifactCache.local(tmp_path)
    cache.put_model("d00d", [1, 2], _INTS)
    assert cache.get_model("d00d", _RECORD) is None
    cache.store.put_bytes(cache.object_key("d00d", ".json"), b'{"text": "torn')
    assert cache.get_model("d00d", _INTS) is None
    assert (cache.hits, cache.misses) == (0, 2)
