"""stt engines."""
