"""The service's tables (SQLAlchemy 2 typed models; PostgreSQL and SQLite)."""

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "TERMINAL_STATUSES",
    "ApiKey",
    "Base",
    "Dub",
    "DubArtifact",
    "DubStatus",
    "Tenant",
    "TenantGlossary",
    "Upload",
    "UploadStatus",
    "UtcDateTime",
    "utcnow",
]

DubStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
UploadStatus = Literal["pending", "stored"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite (which stores no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_NAMING = {  # stable constraint names, so later migrations can refer to them
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        int: BigInteger(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[dict[str, Any]]: JSON(),
        str: String(255),
    }


def _tenant_fk(*, index: bool = True) -> Mapped[str]:
    return mapped_column(String(40), ForeignKey("tenants.id", ondelete="CASCADE"), index=index)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantGlossary(Base):
    """A tenant's glossary: records of domain.glossary (`entry_record`), applied to every dub."""

    __tablename__ = "tenant_glossaries"

    tenant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    entries: Mapped[list[dict[str, Any]]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    """A key is 'gv_<prefix>_<secret>'; only `prefix` (for lookup) and its sha256 are kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str]
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    filename: Mapped[str]
    content_type: Mapped[str]
    size_bytes: Mapped[int]  # as declared by the client
    object_key: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dub(Base):
    __tablename__ = "dubs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_dubs_tenant_created", "tenant_id", "created_at", "id"),  # newest-first pages
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk(index=False)  # ix_dubs_tenant_created leads with it
    upload_id: Mapped[str] = mapped_column(String(40), ForeignKey("uploads.id"), index=True)
    source_language: Mapped[str | None] = mapped_column(String(16))
    target_languages: Mapped[list[str]]
    options: Mapped[dict[str, Any]]
    # The glossary the dub translates with: the tenant's merged with the request's, as created.
    glossary: Mapped[list[dict[str, Any]]] = mapped_column(default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict[str, Any]]
    detected_language: Mapped[str | None] = mapped_column(String(16))
    idempotency_key: Mapped[str | None]
    request_hash: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(64))
    expected_duration_s: Mapped[float | None] = mapped_column(Float)
    manifest: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DubArtifact(Base):
    """One output file of a dub; rows go with their dub (ON DELETE CASCADE)."""

    __tablename__ = "dub_artifacts"

    dub_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("dubs.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int]
    content_type: Mapped[str]
