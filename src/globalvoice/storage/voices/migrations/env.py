"""Alembic environment of the voice library (its own version table: it may share a database)."""

from alembic import context
from sqlalchemy import pool

from globalvoice.storage.db.session import make_engine
from globalvoice.storage.voices.models import VoiceBase

VERSION_TABLE = "voice_alembic_version"
url = context.config.get_main_option("sqlalchemy.url") or ""


def run_migrations() -> None:
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=VoiceBase.metadata,
            literal_binds=True,
            version_table=VERSION_TABLE,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=VoiceBase.metadata,
                version_table=VERSION_TABLE,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
