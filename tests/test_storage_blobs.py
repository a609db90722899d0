"""The BlobStore contract, run against a local folder and against a real S3 server (SeaweedFS)."""

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from globalvoice.config.settings import StorageSettings
from globalvoice.domain.errors import ConfigError, StorageUnavailable
from globalvoice.storage.blobs import BlobStore, LocalBlobStore, S3BlobStore, build_blob_store
from globalvoice.storage.s3 import S3Transfer
from tests.services import SeaweedFS, free_ports

BAD_KEYS = ["", "../x", "a/../b", "/abs", "a\\b", "a//b", "a/", "./a", "a/.hidden", "a\nb"]


def s3_store(server: SeaweedFS, transfer: S3Transfer | None = None, **settings: str) -> S3BlobStore:
    # a new bucket each time: created on first use
    return S3BlobStore(server.storage(f"gv-test-{secrets.token_hex(6)}", **settings), transfer)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "objects")
    return s3_store(request.getfixturevalue("seaweedfs"))


@pytest.fixture()
def s3(seaweedfs: SeaweedFS) -> S3BlobStore:
    return s3_store(seaweedfs)


def test_bytes_round_trip(store: BlobStore) -> None:
    assert store.get_bytes("dubs/t/d/out.mp4") is None
    assert not store.exists("dubs/t/d/out.mp4")
    assert store.size("dubs/t/d/out.mp4") is None
    store.put_bytes("dubs/t/d/out.mp4", b"first", content_type="video/mp4")
    store.put_bytes("dubs/t/d/out.mp4", b"second version")  # replaces
    assert store.get_bytes("dubs/t/d/out.mp4") == b"second version"
    assert store.exists("dubs/t/d/out.mp4")
    assert store.size("dubs/t/d/out.mp4") == len(b"second version")
    assert not store.exists("dubs/t/d")  # a folder is not an object
    assert store.get_bytes("dubs/t/d") is None


def test_file_round_trip(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    payload = secrets.token_bytes(300_000)
    source.write_bytes(payload)
    store.put_file("uploads/t/u/source", source, content_type="video/mp4")
    target = tmp_path / "deep" / "copy.bin"
    assert store.download("uploads/t/u/source", target)
    assert target.read_bytes() == payload
    missing = tmp_path / "missing.bin"
    assert not store.download("uploads/t/u/nothing", missing)
    assert not missing.exists()
    assert [p.name for p in missing.parent.iterdir() if p.name.startswith(".")] == []


def test_list_and_delete_prefix(store: BlobStore) -> None:
    keys = ["dubs/t1/d1/a.mp4", "dubs/t1/d1/sub/b.srt", "dubs/t1/d10/c.mp4", "dubs/t2/d1/a.mp4"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert store.list_keys("dubs/t1/d1/") == ["dubs/t1/d1/a.mp4", "dubs/t1/d1/sub/b.srt"]
    assert store.list_keys("dubs/t1/d1") == keys[:3]  # a prefix matches leading characters
    assert store.list_keys("") == sorted(keys)
    assert store.list_keys("nothing/") == []
    assert store.delete_prefix("dubs/t1/d1/") == 2
    assert store.list_keys("dubs/t1/d1/") == []
    assert not store.exists("dubs/t1/d1/a.mp4")
    assert store.list_keys("") == ["dubs/t1/d10/c.mp4", "dubs/t2/d1/a.mp4"]
    assert store.delete_prefix("dubs/") == 2
    assert store.list_keys("") == []
    assert store.delete_prefix("dubs/") == 0
    with pytest.raises(ValueError, match="empty"):
        store.delete_prefix("")


def test_delete_prefix_many(store: BlobStore) -> None:
    keys = [f"many/{index:04d}" for index in range(1100)]  # > one list page, one delete batch
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.put_bytes(key, b"x"), keys))
    assert len(store.list_keys("many/")) == 1100
    assert store.delete_prefix("many/") == 1100
    assert store.list_keys("") == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_rejected(store: BlobStore, key: str, tmp_path: Path) -> None:
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, tmp_path),
        lambda: store.get_bytes(key),
        lambda: store.download(key, tmp_path / "out"),
        lambda: store.exists(key),
        lambda: store.size(key),
        lambda: store.presign_put(key, 60, "video/mp4"),
        lambda: store.presign_get(key, 60, "a.mp4"),
        lambda: store.local_path(key),
    ):
        with pytest.raises(ValueError):
            call()
    for prefix in ("../", "/abs/", "a\\b/", "a//"):
        with pytest.raises(ValueError):
            store.list_keys(prefix)
        with pytest.raises(ValueError):
            store.delete_prefix(prefix)


def test_local_store_layout(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put_bytes("a/b/c.json", b"{}")
    assert store.local_path("a/b/c.json") == tmp_path / "a" / "b" / "c.json"
    assert (tmp_path / "a" / "b" / "c.json").read_bytes() == b"{}"
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["c.json"]  # no temp left
    assert store.presign_put("a/b/c.json", 60, "application/json") is None
    assert store.presign_get("a/b/c.json", 60, "c.json") is None
    assert store.delete_prefix("a/") == 1
    assert list(tmp_path.iterdir()) == []  # emptied folders go too


def test_build_blob_store(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    local = build_blob_store(StorageSettings(), tmp_path)
    assert isinstance(local, LocalBlobStore)
    assert local.root == tmp_path / "objects"
    custom = build_blob_store(StorageSettings(local_dir=tmp_path / "elsewhere"), tmp_path)
    assert isinstance(custom, LocalBlobStore)
    assert custom.root == tmp_path / "elsewhere"
    settings = StorageSettings(
        kind="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=f"gv-build-{secrets.token_hex(4)}",
        s3_access_key_id=seaweedfs.access_key_id,
        s3_secret_access_key=seaweedfs.secret_access_key,
    )
    remote = build_blob_store(settings, tmp_path)
    assert isinstance(remote, S3BlobStore)
    remote.put_bytes("k", b"v")
    assert remote.get_bytes("k") == b"v"
    assert remote.local_path("k") is None


def test_presigned_put_then_get(s3: S3BlobStore) -> None:
    url = s3.presign_put("uploads/t/u/source", 300, "video/mp4")
    assert url is not None
    response = httpx.put(url, content=b"client bytes", headers={"Content-Type": "video/mp4"})
    assert response.status_code == 200, response.text
    assert s3.get_bytes("uploads/t/u/source") == b"client bytes"
    head = s3._client.head_object(Bucket=s3.bucket, Key="uploads/t/u/source")
    assert head["ContentType"] == "video/mp4"


def test_presigned_get_names_the_file(s3: S3BlobStore) -> None:
    s3.put_bytes("dubs/t/d/video.mp4", b"dubbed", content_type="video/mp4")
    url = s3.presign_get("dubs/t/d/video.mp4", 300, 'Ein "Film" \u2013 pt.mp4')
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"dubbed"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Ein _Film_ _ pt.mp4"')
    assert "filename*=UTF-8''Ein%20%22Film%22%20%E2%80%93%20pt.mp4" in disposition


def _tamper(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    value = query[name]
    query[name] = ("0" if value[0] != "0" else "1") + value[1:]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_tampered_signature_rejected(s3: S3BlobStore) -> None:
    s3.put_bytes("dubs/t/d/secret.mp4", b"private")
    get_url = s3.presign_get("dubs/t/d/secret.mp4", 300, "secret.mp4")
    put_url = s3.presign_put("dubs/t/d/secret.mp4", 300, "video/mp4")
    assert get_url is not None and put_url is not None
    assert httpx.get(_tamper(get_url, "X-Amz-Signature")).status_code == 403
    other_key = get_url.replace("secret.mp4?", "other.mp4?", 1)
    assert httpx.get(other_key).status_code == 403
    forged = httpx.put(_tamper(put_url, "X-Amz-Signature"), content=b"evil")
    assert forged.status_code == 403
    assert s3.get_bytes("dubs/t/d/secret.mp4") == b"private"


def test_presigned_urls_use_the_public_endpoint(seaweedfs: SeaweedFS) -> None:
    public = "https://media.example.test"
    store = s3_store(seaweedfs, s3_public_endpoint_url=public)
    put_url = store.presign_put("uploads/t/u/source", 60, "video/mp4")
    get_url = store.presign_get("uploads/t/u/source", 60, "in.mp4")
    assert put_url is not None and put_url.startswith(
        f"{public}/{store.bucket}/uploads/t/u/source?"
    )
    assert get_url is not None and get_url.startswith(f"{public}/{store.bucket}/")


def test_multipart_upload(seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    store = s3_store(
        seaweedfs, S3Transfer(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    )
    big = tmp_path / "big.bin"
    payload = secrets.token_bytes((11 << 20) + 123)
    big.write_bytes(payload)
    store.put_file("uploads/t/u/source", big, content_type="video/mp4")
    head = store._client.head_object(Bucket=store.bucket, Key="uploads/t/u/source")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert store.size("uploads/t/u/source") == len(payload)
    copy = tmp_path / "copy.bin"
    assert store.download("uploads/t/u/source", copy)
    assert copy.read_bytes() == payload


def test_unreachable_store_is_retryable() -> None:
    (port,) = free_ports(1)  # nothing listens there
    nowhere = StorageSettings(
        kind="s3",
        s3_endpoint_url=f"http://127.0.0.1:{port}",
        s3_bucket="gv-nowhere",
        s3_access_key_id="x",
        s3_secret_access_key=secrets.token_hex(8),
    )
    store = S3BlobStore(nowhere, S3Transfer(max_attempts=1))
    with pytest.raises(StorageUnavailable) as caught:
        store.put_bytes("k", b"v")
    assert caught.value.code == "storage.unavailable"


def test_wrong_credentials_are_a_config_error(seaweedfs: SeaweedFS) -> None:
    wrong = seaweedfs.storage(
        "readiness-probe", s3_secret_access_key=seaweedfs.secret_access_key + "-wrong"
    )
    store = S3BlobStore(wrong)
    with pytest.raises(ConfigError):
        store.get_bytes("probe")
