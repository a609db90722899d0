"""Migrations of the voice library's own schema."""

from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["MIGRATIONS_DIR", "migrate_voices"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def migrate_voices(url: str) -> None:
    """Bring the voice schema at `url` to head (on PostgreSQL: CREATE EXTENSION vector too)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
