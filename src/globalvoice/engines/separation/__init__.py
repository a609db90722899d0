"""Dialogue/background separation engines (the separate stage's models)."""
