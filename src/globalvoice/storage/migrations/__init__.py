"""Alembic migrations for the service database (run them with `db.session.migrate(url)`)."""
