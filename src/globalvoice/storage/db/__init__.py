"""The service database: models, sessions and migrations, and the repository functions."""
