"""Alembic environment: the URL comes from the config (`migrate(url)` sets it), else settings."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool

from globalvoice.config.settings import Settings
from globalvoice.storage.db.models import Base, UtcDateTime
from globalvoice.storage.db.session import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings().service.sqlalchemy_url()


def render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:  # noqa: ARG001
    """Revisions spell UtcDateTime as its column type, so they never import the models."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
                compare_type=True,
                render_item=render_item,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
