"""mt engines."""
