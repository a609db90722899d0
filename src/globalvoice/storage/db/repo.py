"""Repository functions over a Session. They flush, never commit: the caller owns the transaction.

Every read of a tenant's rows takes `tenant_id` and filters by it, so another tenant's id reads
as missing. The writes by dub id alone (status, progress, artifacts) are for workers.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from globalvoice.domain.errors import IdempotencyConflict, NotFound, UserFacingError
from globalvoice.storage.db.models import (
    TERMINAL_STATUSES,
    ApiKey,
    Dub,
    DubArtifact,
    DubStatus,
    Tenant,
    TenantGlossary,
    Upload,
    utcnow,
)
from globalvoice.storage.layout import dub_prefix, new_id, upload_key, workflow_id

__all__ = [
    "NewDub",
    "add_artifact",
    "create_api_key",
    "create_dub",
    "create_tenant",
    "create_upload",
    "delete_dub",
    "dub_prefix",
    "get_dub",
    "get_glossary",
    "get_upload",
    "list_api_keys",
    "list_artifacts",
    "list_dubs",
    "mark_upload_stored",
    "request_hash",
    "revoke_api_key",
    "set_glossary",
    "tenant_for_key",
    "update_dub_progress",
    "update_dub_status",
    "upload_key",
]

DUB_STATUSES = frozenset({"queued", "running", "succeeded", "failed", "cancelled"})
MAX_PAGE = 100


def _hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_tenant(session: Session, name: str) -> Tenant:
    tenant = Tenant(id=new_id("ten"), name=name)
    session.add(tenant)
    session.flush()
    return tenant


def create_api_key(session: Session, tenant_id: str, name: str) -> tuple[ApiKey, str]:
    """A new key: the row (prefix and sha256 only) and the plaintext, shown to the user once."""
    prefix = secrets.token_hex(6)
    plaintext = f"gv_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        key_hash=_hash_key(plaintext),
    )
    session.add(row)
    session.flush()
    return row, plaintext


def tenant_for_key(session: Session, plaintext: str) -> Tenant | None:
    """The tenant owning this unrevoked key, or None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != "gv" or not parts[1] or not parts[2]:
        return None
    found = session.execute(
        select(ApiKey, Tenant)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.prefix == parts[1], ApiKey.revoked_at.is_(None))
    ).first()
    if found is None or not hmac.compare_digest(found[0].key_hash, _hash_key(plaintext)):
        return None
    return found[1]


def list_api_keys(session: Session, tenant_id: str) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
    return list(session.scalars(query))


def revoke_api_key(session: Session, tenant_id: str, key_id: str) -> bool:
    row = session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id))
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return True


def get_glossary(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's glossary records (empty when it has none)."""
    row = session.get(TenantGlossary, tenant_id)
    return list(row.entries) if row is not None else []


def set_glossary(session: Session, tenant_id: str, entries: list[dict[str, Any]]) -> None:
    """Replace the tenant's glossary; an empty list removes it."""
    row = session.get(TenantGlossary, tenant_id)
    if not entries:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(TenantGlossary(tenant_id=tenant_id, entries=entries))
    else:
        row.entries = entries
    session.flush()


def create_upload(
    session: Session, tenant_id: str, *, filename: str, content_type: str, size_bytes: int
) -> Upload:
    """A pending upload; its bytes go to `object_key` (`uploads/<tenant>/<id>/source`)."""
    upload_id = new_id("upl")
    upload = Upload(
        id=upload_id,
        tenant_id=tenant_id,
        filename=filename,
        content_type=content_type,
        size_bytes=size_bytes,
        object_key=upload_key(tenant_id, upload_id),
        status="pending",
    )
    session.add(upload)
    session.flush()
    return upload


def get_upload(session: Session, tenant_id: str, upload_id: str) -> Upload | None:
    query = select(Upload).where(Upload.tenant_id == tenant_id, Upload.id == upload_id)
    return session.scalar(query)


def mark_upload_stored(
    session: Session, tenant_id: str, upload_id: str, *, size_bytes: int | None = None
) -> Upload | None:
    """The bytes are in the store (`size_bytes`: the stored size, when known)."""
    upload = get_upload(session, tenant_id, upload_id)
    if upload is not None:
        upload.status = "stored"
        if size_bytes is not None:
            upload.size_bytes = size_bytes
        session.flush()
    return upload


def request_hash(
    upload_id: str,
    source_language: str | None,
    target_languages: list[str],
    options: dict[str, Any],
    glossary: list[dict[str, Any]] | None = None,
) -> str:
    """What makes two dub requests the same request (for idempotency keys)."""
    body: dict[str, Any] = {
        "upload_id": upload_id,
        "source_language": source_language,
        "target_languages": target_languages,
        "options": options,
    }
    if glossary:
        body["glossary"] = glossary
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _by_idempotency_key(session: Session, tenant_id: str, key: str) -> Dub | None:
    query = select(Dub).where(Dub.tenant_id == tenant_id, Dub.idempotency_key == key)
    return session.scalar(query)


def _replay(existing: Dub, digest: str) -> tuple[Dub, bool]:
    if existing.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request",
            detail=f"dub {existing.id}",
        )
    return existing, False


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDub:
    """What a dub row is made from. `glossary` is what the dub translates with (the tenant's
    merged with the request's); `request_glossary` is the request's own part, the only part the
    idempotency hash covers, so a retried request stays the same request after the tenant edits
    its glossary."""

    upload_id: str
    target_languages: list[str]
    source_language: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    expected_duration_s: float | None = None
    glossary: list[dict[str, Any]] = field(default_factory=list)
    request_glossary: list[dict[str, Any]] = field(default_factory=list)


def create_dub(session: Session, tenant_id: str, new: NewDub) -> tuple[Dub, bool]:
    """A queued dub and True; or, for a replayed idempotency key, the existing dub and False.

    Raises NotFound when the tenant has no stored upload `new.upload_id`, and
    IdempotencyConflict when the key was used for a different request.
    """
    upload_id, idempotency_key = new.upload_id, new.idempotency_key
    digest = request_hash(
        upload_id, new.source_language, new.target_languages, new.options, new.request_glossary
    )
    if idempotency_key is not None:
        existing = _by_idempotency_key(session, tenant_id, idempotency_key)
        if existing is not None:
            return _replay(existing, digest)
    upload = get_upload(session, tenant_id, upload_id)
    if upload is None or upload.status != "stored":
        state = "missing" if upload is None else upload.status
        raise NotFound(f"no stored upload {upload_id}", detail=state)
    dub_id = new_id("dub")
    dub = Dub(
        id=dub_id,
        tenant_id=tenant_id,
        upload_id=upload_id,
        source_language=new.source_language,
        target_languages=list(new.target_languages),
        options=dict(new.options),
        glossary=list(new.glossary),
        status="queued",
        progress={},
        idempotency_key=idempotency_key,
        request_hash=digest,
        workflow_id=workflow_id(dub_id),
        expected_duration_s=new.expected_duration_s,
    )
    try:
        with session.begin_nested():  # a concurrent request with the same key may win the race
            session.add(dub)
    except IntegrityError:
        if idempotency_key is None:
            raise
        existing = _by_idempotency_key(session, tenant_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, digest)
    return dub, True


def get_dub(session: Session, tenant_id: str, dub_id: str) -> Dub | None:
    return session.scalar(select(Dub).where(Dub.tenant_id == tenant_id, Dub.id == dub_id))


def _encode_cursor(dub: Dub) -> str:
    raw = json.dumps([dub.created_at.isoformat(), dub.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, dub_id = json.loads(raw)
        created = datetime.fromisoformat(stamp)
        if created.tzinfo is None or not isinstance(dub_id, str):
            raise ValueError(cursor)
    except (binascii.Error, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise UserFacingError("invalid pagination cursor", detail=cursor) from exc
    return created, dub_id


def list_dubs(
    session: Session, tenant_id: str, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[Dub], str | None]:
    """A page of the tenant's dubs, newest first, and the cursor of the next page (None: last)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Dub).where(Dub.tenant_id == tenant_id)
    if cursor is not None:
        created, dub_id = _decode_cursor(cursor)
        query = query.where(
            or_(Dub.created_at < created, and_(Dub.created_at == created, Dub.id < dub_id))
        )
    query = query.order_by(Dub.created_at.desc(), Dub.id.desc()).limit(limit + 1)
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], _encode_cursor(rows[limit - 1])


def _locked_dub(session: Session, dub_id: str) -> Dub | None:
    return session.scalar(select(Dub).where(Dub.id == dub_id).with_for_update())


def update_dub_status(
    session: Session,
    dub_id: str,
    status: DubStatus,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    detected_language: str | None = None,
    manifest: dict[str, Any] | None = None,
) -> Dub | None:
    """Move a dub to `status`. A finished dub (succeeded, failed, cancelled) stays as it is."""
    if status not in DUB_STATUSES:
        raise ValueError(f"unknown dub status {status!r}")
    dub = _locked_dub(session, dub_id)
    if dub is None or dub.status in TERMINAL_STATUSES:
        return dub
    dub.status = status
    if error_code is not None or error_message is not None:
        dub.error_code, dub.error_message = error_code, error_message
    if detected_language is not None:
        dub.detected_language = detected_language
    if manifest is not None:
        dub.manifest = manifest
    session.flush()
    return dub


def update_dub_progress(
    session: Session, dub_id: str, stage: str, language: str, *, done: int, total: int
) -> Dub | None:
    """Set `progress[stage][language] = {"done": done, "total": total}` (language '' if none)."""
    dub = _locked_dub(session, dub_id)
    if dub is None:
        return None
    stage_progress = {**dub.progress.get(stage, {}), language: {"done": done, "total": total}}
    dub.progress = {**dub.progress, stage: stage_progress}  # a new dict: the change is seen
    session.flush()
    return dub


def add_artifact(
    session: Session,
    dub_id: str,
    *,
    language: str,
    kind: str,
    object_key: str,
    size_bytes: int,
    content_type: str,
) -> DubArtifact:
    """Record an output file; recording the same (language, kind) again replaces it."""
    artifact = session.get(DubArtifact, (dub_id, language, kind))
    if artifact is None:
        artifact = DubArtifact(dub_id=dub_id, language=language, kind=kind)
        session.add(artifact)
    artifact.object_key = object_key
    artifact.size_bytes = size_bytes
    artifact.content_type = content_type
    session.flush()
    return artifact


def list_artifacts(session: Session, tenant_id: str, dub_id: str) -> list[DubArtifact]:
    query = (
        select(DubArtifact)
        .join(Dub, Dub.id == DubArtifact.dub_id)
        .where(Dub.tenant_id == tenant_id, DubArtifact.dub_id == dub_id)
        .order_by(DubArtifact.language, DubArtifact.kind)
    )
    return list(session.scalars(query))


def delete_dub(session: Session, tenant_id: str, dub_id: str) -> list[str] | None:
    """Delete the dub (its artifact rows go with it); return the object prefixes to delete.

    None when the tenant has no such dub. Cancel a running workflow first.
    """
    dub = get_dub(session, tenant_id, dub_id)
    if dub is None:
        return None
    session.delete(dub)  # the database deletes its dub_artifacts rows (ON DELETE CASCADE)
    session.flush()
    return [dub_prefix(tenant_id, dub_id)]
