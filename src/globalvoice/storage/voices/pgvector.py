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
        if migrate:
            migrate_voices(url)
        engine = make_engine(url)
        if engine.dialect.name != "postgresql":
            raise ConfigError(f"voice_index_url must be PostgreSQL with pgvector, not {url!r}")
        super().__init__(engine, store)
        self.ef_search = ef_search

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
