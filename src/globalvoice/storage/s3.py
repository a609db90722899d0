"""`S3BlobStore`: objects in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO...) via boto3."""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import quote

import boto3
import boto3.exceptions
import botocore.exceptions
import s3transfer.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from globalvoice.config.settings import StorageSettings
from globalvoice.domain.errors import ConfigError, StorageUnavailable
from globalvoice.storage.blobs import DEFAULT_CONTENT_TYPE
from globalvoice.storage.files import atomic_writer
from globalvoice.storage.keys import validate_key, validate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3BlobStore", "S3Transfer"]

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_TRANSIENT = {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
_NETWORK = (
    botocore.exceptions.ConnectionError,  # refused, DNS, connect timeout, TLS
    botocore.exceptions.HTTPClientError,  # read timeout, connection closed, broken stream
    botocore.exceptions.IncompleteReadError,
    boto3.exceptions.RetriesExceededError,
    s3transfer.exceptions.RetriesExceededError,
)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_missing(exc: ClientError) -> bool:
    return _error_code(exc) in _MISSING


def _raise_translated(exc: ClientError, what: str) -> NoReturn:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    code = _error_code(exc)
    if status >= 500 or code in _TRANSIENT:
        raise StorageUnavailable("object storage is unavailable", detail=f"{what}: {exc}") from exc
    if status == 403 or code in _DENIED:
        raise ConfigError(
            "object storage refused the request: check the S3 credentials and bucket permissions",
            detail=f"{what}: {exc}",
        ) from exc
    raise exc


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Network faults and 5xx become StorageUnavailable (retryable); 403 becomes ConfigError."""
    try:
        yield
    except ClientError as exc:
        _raise_translated(exc, what)
    except boto3.exceptions.S3UploadFailedError as exc:  # wraps the ClientError as its context
        if isinstance(exc.__context__, ClientError):
            _raise_translated(exc.__context__, what)
        raise StorageUnavailable("object storage is unavailable", detail=f"{what}: {exc}") from exc
    except _NETWORK as exc:
        raise StorageUnavailable("object storage is unreachable", detail=f"{what}: {exc}") from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise ConfigError("no S3 credentials configured", detail=str(exc)) from exc


def _content_disposition(filename: str) -> str:
    safe = (c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    fallback = "".join(safe)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Transfer:
    """How the store moves bytes: files from `multipart_threshold` up go in parts of
    `multipart_chunksize`; a request gives up after `max_attempts` or a slow connect."""

    multipart_threshold: int = 64 << 20
    multipart_chunksize: int = 16 << 20
    connect_timeout_s: float = 5.0
    max_attempts: int = 3


class S3BlobStore:
    """A bucket, created on first use when missing. Big files go up in parts (multipart upload).

    `s3_public_endpoint_url`: the endpoint written into presigned URLs, when clients reach the
    store under another host name than this process does.
    """

    def __init__(self, storage: StorageSettings, transfer: S3Transfer | None = None) -> None:
        """The bucket `storage.s3_*` names; `transfer`: part sizes, time-out and attempts."""
        tuning = transfer or S3Transfer()
        endpoint_url = storage.s3_endpoint_url
        self.bucket = storage.s3_bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": tuning.max_attempts, "mode": "standard"},
            connect_timeout=tuning.connect_timeout_s,
            read_timeout=60,
        )

        def client(endpoint: str | None) -> "S3Client":
            return boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=storage.s3_region,
                aws_access_key_id=storage.s3_access_key_id,
                aws_secret_access_key=storage.s3_secret_access_key,
                config=config,
            )

        public = storage.s3_public_endpoint_url
        self._client = client(endpoint_url)
        self._presigner = client(public) if public else self._client
        self._transfer = TransferConfig(
            multipart_threshold=tuning.multipart_threshold,
            multipart_chunksize=tuning.multipart_chunksize,
            max_concurrency=4,
        )
        self._region = storage.s3_region
        self._bucket_ready = False
        self._lock = threading.Lock()

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._lock, _translated(f"create bucket {self.bucket}"):
            if self._bucket_ready:
                return
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if not _is_missing(exc):
                    raise
                self._create_bucket()
            self._bucket_ready = True

    def _create_bucket(self) -> None:
        try:
            if self._region == "us-east-1":
                self._client.create_bucket(Bucket=self.bucket)
            else:
                self._client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": self._region},  # type: ignore[typeddict-item]
                )
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        validate_key(key)
        self._ensure_bucket()
        with _translated(f"put {key}"):
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )

    def put_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        validate_key(key)
        self._ensure_bucket()
        with _translated(f"upload {key}"):
            self._client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )

    def get_bytes(self, key: str) -> bytes | None:
        validate_key(key)
        self._ensure_bucket()
        with _translated(f"get {key}"):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise
            return response["Body"].read()

    def download(self, key: str, path: Path) -> bool:
        validate_key(key)
        self._ensure_bucket()
        with _translated(f"download {key}"):
            try:
                with atomic_writer(path) as handle:
                    self._client.download_fileobj(self.bucket, key, handle, Config=self._transfer)
            except ClientError as exc:
                if _is_missing(exc):
                    return False
                raise
        return True

    def size(self, key: str) -> int | None:
        validate_key(key)
        self._ensure_bucket()
        with _translated(f"head {key}"):
            try:
                return self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def list_keys(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        self._ensure_bucket()
        keys: list[str] = []
        with _translated(f"list {prefix}"):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        if not validate_prefix(prefix):
            raise ValueError("refusing to delete every object: the prefix is empty")
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):  # the DeleteObjects limit
            batch = keys[start : start + 1000]
            with _translated(f"delete {prefix}"):
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            if errors := response.get("Errors"):
                raise StorageUnavailable(
                    "object storage did not delete every object", detail=f"{prefix}: {errors[:3]}"
                )
        return len(keys)

    def presign_put(self, key: str, expires_s: int, content_type: str) -> str | None:
        validate_key(key)
        self._ensure_bucket()
        return self._presigner.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_s,
        )

    def presign_get(self, key: str, expires_s: int, filename: str) -> str | None:
        validate_key(key)
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": _content_disposition(filename),
            },
            ExpiresIn=expires_s,
        )

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None
