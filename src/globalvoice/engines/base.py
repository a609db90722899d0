"""What every engine states about itself: name, model, licence, and a fingerprint for cache keys."""

from dataclasses import dataclass

__all__ = ["EngineInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineInfo:
    name: str
    model_id: str
    licence: str
    is_commercial_use_ok: bool = True

    @property
    def fingerprint(self) -> str:
        return f"{self.name}:{self.model_id}"
