"""Settings and engine configuration (pydantic). Built only in entry points."""
