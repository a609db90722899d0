"""The voice library's tables: their own metadata and migrations (the index may be another
database than the service's, one with pgvector), so no foreign key reaches `tenants`."""

from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import JSON, Float, ForeignKey, Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from globalvoice.storage.db.models import UtcDateTime, utcnow
from globalvoice.storage.voices.vectors import EmbeddingType

__all__ = ["Voice", "VoiceAssignmentRow", "VoiceBase", "VoiceUseRow"]

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class VoiceBase(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        str: String(255),
    }


def _voice_fk() -> Mapped[str]:
    return mapped_column(String(40), ForeignKey("voices.id", ondelete="CASCADE"), primary_key=True)


class Voice(VoiceBase):
    __tablename__ = "voices"
    __table_args__ = (Index("ix_voices_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str]
    embedding: Mapped[npt.NDArray[np.float32]] = mapped_column(EmbeddingType())
    weight: Mapped[float] = mapped_column(Float)
    profile: Mapped[dict[str, Any]]
    reference_key: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VoiceUseRow(VoiceBase):
    """The voice spoke in this source (a dub id or a video digest)."""

    __tablename__ = "voice_uses"

    voice_id: Mapped[str] = _voice_fk()
    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class VoiceAssignmentRow(VoiceBase):
    """A user's choice: this speaker of this dub speaks with this library voice."""

    __tablename__ = "voice_assignments"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dub_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    speaker_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    voice_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("voices.id", ondelete="CASCADE"), index=True
    )
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
