"""The service's voice library: PostgreSQL with pgvector, cosine search on an HNSW index.

The match query filters by tenant and orders by `embedding <=> query` with pgvector's iterative
index scan (`hnsw.iterative_scan = strict_order`), so a tenant's voices are found even when other
tenants' voices fill the first candidates. Deletions end with a VACUUM of the voice tables, which
removes the dead rows from the heap and their entries from the HNSW graph.
"""

import numpy as np
import numpy.typing as npt
from sqlalchemy import Float, select, text
from sqlalchemy.orm import Session

from globalvoice.domain.errors import ConfigError
from globalvoice.storage.blobs import BlobStore
from globalvoice.storage.db.session import make_engine
from globalvoice.storage.voices.library import SqlVoiceLibrary
from globalvoice.storage.voices.models import Voice
from globalvoice.storage.voices.schema import migrate_voices

__all__ = ["PgVectorVoiceLibrary"]

_TABLES = ("voices", "voice_uses", "voice_assignments")


class PgVectorVoiceLibrary(SqlVoiceLibrary):
    def __init__(
        self, url: str, store: BlobStore, *, migrate: bool = True, ef_search: int = 40
    ) -> None:
        try:
            import pgvector.sqlalchemy  # noqa: F401
        except ImportError as err:
            raise ConfigError(
                "The pgvector voice library needs the `pgvector` package: pip install pgvector."
            ) from err
        engine = make_engine(url)
        if engine.dialect.name != "postgresql":
            raise ConfigError("voice_index_url must name a PostgreSQL server with pgvector")
        super().__init__(engine, store)
        self.ef_search = ef_search
        try:
            self._check_pgvector(migrate=migrate)
        except BaseException:
            engine.dispose()
            raise

    def _check_pgvector(self, *, migrate: bool) -> None:
        """The server has pgvector 0.8+ (filtered HNSW search needs its iterative index scans)."""
        query = "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        with self.engine.connect() as connection:
            available = connection.scalar(text(query))
        if available is None:
            raise ConfigError(
                "The voice index database has no pgvector: point GV_SERVICE__VOICE_INDEX_URL at "
                "a PostgreSQL with the vector extension (0.8 or newer)."
            )
        if migrate:
            migrate_voices(self.engine.url.render_as_string(hide_password=False))
        with self.engine.connect() as connection:
            version = connection.scalar(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
        parts = tuple(int(p) for p in str(version or available).split(".")[:2] if p.isdigit())
        if parts < (0, 8):
            raise ConfigError(f"The voice index needs pgvector 0.8 or newer, not {version}.")

    def _nearest(
        self, session: Session, tenant_id: str, query: npt.NDArray[np.float32]
    ) -> tuple[Voice, float] | None:
        session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
        session.execute(text(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}"))
        distance = Voice.embedding.op("<=>", return_type=Float())(query)
        row = session.execute(
            select(Voice, distance).where(Voice.tenant_id == tenant_id).order_by(distance).limit(1)
        ).first()
        if row is None:
            return None
        return row[0], 1.0 - float(row[1])

    def _purge(self) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM {', '.join(_TABLES)}")
