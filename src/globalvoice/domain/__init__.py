"""Typed, immutable data shared by every layer. Imports only the standard library and numpy."""
