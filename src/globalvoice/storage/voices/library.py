"""The voice library over SQLAlchemy and a blob store; subclasses supply the nearest-voice search.

Deletion order (biometric data): reference objects first, then the rows in one transaction, then
the objects again (anything written meanwhile), then `_purge` (the database's own clean-up of
deleted rows: VACUUM on PostgreSQL, a WAL checkpoint over zeroed pages on SQLite).
"""

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from globalvoice.storage.blobs import BlobStore
from globalvoice.storage.db.session import session_factory
from globalvoice.storage.layout import new_id, reference_key, voice_prefix
from globalvoice.storage.voices import rows
from globalvoice.storage.voices.models import Voice, VoiceAssignmentRow, VoiceUseRow
from globalvoice.storage.voices.protocol import Embedding, VoiceMatch, VoiceRecord, VoiceUse
from globalvoice.storage.voices.vectors import combine, normalised

__all__ = ["MAX_PAGE", "SqlVoiceLibrary"]

MAX_PAGE = 100
_FLAC = "audio/flac"


class SqlVoiceLibrary:
    def __init__(self, engine: Engine, store: BlobStore) -> None:
        self.engine = engine
        self.store = store
        self.sessions = session_factory(engine)

    # ------------------------------------------------------------ for subclasses
    def _nearest(
        self, session: Session, tenant_id: str, query: npt.NDArray[np.float32]
    ) -> tuple[Voice, float] | None:
        """The tenant's voice with the highest cosine to the unit vector `query`."""
        raise NotImplementedError

    def _purge(self) -> None:
        """Make the database drop what deleted rows leave behind."""

    # ------------------------------------------------------------ reads
    def _voice(
        self, session: Session, tenant_id: str, voice_id: str, *, lock: bool = False
    ) -> Voice | None:
        query = select(Voice).where(Voice.tenant_id == tenant_id, Voice.id == voice_id)
        return session.scalar(query.with_for_update() if lock else query)

    def get(self, tenant_id: str, voice_id: str) -> VoiceRecord | None:
        with self.sessions.begin() as session:
            voice = self._voice(session, tenant_id, voice_id)
            return rows.records(session, [voice])[0] if voice is not None else None

    def list(
        self, tenant_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[VoiceRecord], str | None]:
        limit = max(1, min(limit, MAX_PAGE))
        query = select(Voice).where(Voice.tenant_id == tenant_id)
        if cursor is not None:
            created, voice_id = rows.decode_cursor(cursor)
            query = query.where(
                or_(
                    Voice.created_at < created,
                    and_(Voice.created_at == created, Voice.id < voice_id),
                )
            )
        query = query.order_by(Voice.created_at.desc(), Voice.id.desc()).limit(limit + 1)
        with self.sessions.begin() as session:
            found = list(session.scalars(query))
            page = rows.records(session, found[:limit])
        return page, rows.encode_cursor(found[limit - 1]) if len(found) > limit else None

    def profile(self, tenant_id: str, voice_id: str) -> dict[str, Any] | None:
        with self.sessions.begin() as session:
            voice = self._voice(session, tenant_id, voice_id)
            return dict(voice.profile) if voice is not None else None

    def embedding(self, tenant_id: str, voice_id: str) -> npt.NDArray[np.float32] | None:
        with self.sessions.begin() as session:
            voice = self._voice(session, tenant_id, voice_id)
            return np.array(voice.embedding, dtype=np.float32) if voice is not None else None

    def reference_audio(self, tenant_id: str, voice_id: str) -> bytes | None:
        with self.sessions.begin() as session:
            voice = self._voice(session, tenant_id, voice_id)
            key = voice.reference_key if voice is not None else None
        return self.store.get_bytes(key) if key is not None else None

    def match(self, tenant_id: str, embedding: Embedding, threshold: float) -> VoiceMatch | None:
        query = normalised(embedding)
        with self.sessions.begin() as session:
            found = self._nearest(session, tenant_id, query)
            if found is None or found[1] < threshold:
                return None
            return VoiceMatch(record=rows.records(session, [found[0]])[0], cosine=found[1])

    def uses(self, tenant_id: str, voice_id: str) -> builtins.list[VoiceUse]:
        query = (
            select(VoiceUseRow)
            .join(Voice, Voice.id == VoiceUseRow.voice_id)
            .where(Voice.tenant_id == tenant_id, VoiceUseRow.voice_id == voice_id)
            .order_by(VoiceUseRow.used_at, VoiceUseRow.source)
        )
        with self.sessions.begin() as session:
            return [VoiceUse(source=u.source, used_at=u.used_at) for u in session.scalars(query)]

    def assignments(self, tenant_id: str, dub_id: str) -> dict[str, str]:
        query = select(VoiceAssignmentRow).where(
            VoiceAssignmentRow.tenant_id == tenant_id, VoiceAssignmentRow.dub_id == dub_id
        )
        with self.sessions.begin() as session:
            return {row.speaker_id: row.voice_id for row in session.scalars(query)}

    # ------------------------------------------------------------ writes
    def add(
        self,
        tenant_id: str,
        name: str,
        embedding: Embedding,
        profile: Mapping[str, Any],
        reference_audio: bytes | Path | None = None,
        *,
        weight: float = 1.0,
    ) -> VoiceRecord:
        if not weight > 0:
            raise ValueError("a voice's weight is positive")
        voice = Voice(
            id=new_id("voc"),
            tenant_id=tenant_id,
            name=rows.clean_name(name),
            embedding=normalised(embedding),
            weight=float(weight),
            profile=rows.json_document(profile),
        )
        if reference_audio is not None:
            voice.reference_key = reference_key(tenant_id, voice.id)
            if isinstance(reference_audio, Path):
                self.store.put_file(voice.reference_key, reference_audio, _FLAC)
            else:
                self.store.put_bytes(voice.reference_key, reference_audio, _FLAC)
        try:
            with self.sessions.begin() as session:
                session.add(voice)
                session.flush()
                return rows.records(session, [voice])[0]
        except BaseException:
            self.store.delete_prefix(voice_prefix(tenant_id, voice.id))
            raise

    def rename(self, tenant_id: str, voice_id: str, name: str) -> VoiceRecord | None:
        cleaned = rows.clean_name(name)
        with self.sessions.begin() as session:
            voice = self._voice(session, tenant_id, voice_id, lock=True)
            if voice is None:
                return None
            voice.name = cleaned
            session.flush()
            return rows.records(session, [voice])[0]

    def record_use(self, tenant_id: str, voice_id: str, source: str) -> bool:
        if not 0 < len(source) <= 255:
            raise ValueError("a source id has 1 to 255 characters")
        with self.sessions.begin() as session:
            if self._voice(session, tenant_id, voice_id) is None:
                return False
            if session.get(VoiceUseRow, (voice_id, source)) is None:
                try:
                    with session.begin_nested():  # a concurrent writer may add it first
                        session.add(VoiceUseRow(voice_id=voice_id, source=source))
                except IntegrityError:
                    pass
        return True

    def assign(self, tenant_id: str, dub_id: str, speaker_id: str, voice_id: str) -> bool:
        with self.sessions.begin() as session:
            if self._voice(session, tenant_id, voice_id) is None:
                return False
            row = session.get(VoiceAssignmentRow, (tenant_id, dub_id, speaker_id))
            if row is None:
                row = VoiceAssignmentRow(tenant_id=tenant_id, dub_id=dub_id, speaker_id=speaker_id)
                session.add(row)
            row.voice_id = voice_id
        return True

    def merge(self, tenant_id: str, keep_id: str, absorb_id: str) -> VoiceRecord | None:
        if keep_id == absorb_id:
            raise ValueError("a voice cannot be merged into itself")
        if self.get(tenant_id, keep_id) is None or self.get(tenant_id, absorb_id) is None:
            return None
        self.store.delete_prefix(voice_prefix(tenant_id, absorb_id))
        with self.sessions.begin() as session:
            keep = self._voice(session, tenant_id, keep_id, lock=True)
            absorb = self._voice(session, tenant_id, absorb_id, lock=True)
            if keep is None or absorb is None:
                return None
            keep.embedding = combine(keep.embedding, keep.weight, absorb.embedding, absorb.weight)
            keep.weight = float(keep.weight + absorb.weight)
            kept = set(
                session.scalars(select(VoiceUseRow.source).where(VoiceUseRow.voice_id == keep_id))
            )
            for use in session.scalars(
                select(VoiceUseRow).where(VoiceUseRow.voice_id == absorb_id)
            ):
                if use.source not in kept:
                    session.add(
                        VoiceUseRow(voice_id=keep_id, source=use.source, used_at=use.used_at)
                    )
            session.execute(
                update(VoiceAssignmentRow)
                .where(VoiceAssignmentRow.voice_id == absorb_id)
                .values(voice_id=keep_id)
            )
            self._delete_rows(session, absorb)
            session.flush()
            record = rows.records(session, [keep])[0]
        self._finish_delete(tenant_id, absorb_id)
        return record

    def delete(self, tenant_id: str, voice_id: str) -> bool:
        if self.get(tenant_id, voice_id) is None:
            return False
        self.store.delete_prefix(voice_prefix(tenant_id, voice_id))
        with self.sessions.begin() as session:
            voice = self._voice(session, tenant_id, voice_id, lock=True)
            if voice is not None:
                self._delete_rows(session, voice)
        self._finish_delete(tenant_id, voice_id)
        return True

    def _delete_rows(self, session: Session, voice: Voice) -> None:
        """The voice's rows; explicit (not only ON DELETE CASCADE, which SQLite may not enforce)."""
        session.execute(delete(VoiceUseRow).where(VoiceUseRow.voice_id == voice.id))
        session.execute(delete(VoiceAssignmentRow).where(VoiceAssignmentRow.voice_id == voice.id))
        session.delete(voice)

    def _finish_delete(self, tenant_id: str, voice_id: str) -> None:
        self.store.delete_prefix(voice_prefix(tenant_id, voice_id))
        self._purge()

    def close(self) -> None:
        self.engine.dispose()
