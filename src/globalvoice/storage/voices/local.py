"""The embedded voice library: SQLite through SQLAlchemy, exact cosine search in numpy.

SQLite runs with `secure_delete` (deleted rows are overwritten with zeros) and every deletion
ends with a WAL checkpoint that truncates the log, so a deleted voice's embedding and profile
leave no bytes behind in the database files.
"""

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from globalvoice.storage.blobs import BlobStore
from globalvoice.storage.db.session import make_engine
from globalvoice.storage.voices.library import SqlVoiceLibrary
from globalvoice.storage.voices.models import Voice
from globalvoice.storage.voices.schema import migrate_voices

__all__ = ["LocalVoiceLibrary"]


class LocalVoiceLibrary(SqlVoiceLibrary):
    def __init__(self, path: Path, store: BlobStore, *, migrate: bool = True) -> None:
        url = f"sqlite:///{path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if migrate:
            migrate_voices(url)
        engine = make_engine(url)

        @event.listens_for(engine, "connect")
        def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        super().__init__(engine, store)
        self.path = path

    def _nearest(
        self, session: Session, tenant_id: str, query: npt.NDArray[np.float32]
    ) -> tuple[Voice, float] | None:
        found = session.execute(
            select(Voice.id, Voice.embedding).where(Voice.tenant_id == tenant_id)
        ).all()
        if not found:
            return None
        scores = np.stack([row.embedding for row in found]) @ query
        best = int(np.argmax(scores))
        voice = session.get(Voice, found[best].id)
        return (voice, float(scores[best])) if voice is not None else None

    def _purge(self) -> None:
        raw = self.engine.raw_connection()  # outside any transaction (the engine begins one)
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
