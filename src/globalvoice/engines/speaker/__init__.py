"""speaker embedding engines."""
