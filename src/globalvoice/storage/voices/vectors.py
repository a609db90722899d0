"""Embedding arithmetic and the column type that stores one (pgvector or float32 bytes)."""

from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Dialect, LargeBinary, TypeDecorator
from sqlalchemy.types import TypeEngine

from globalvoice.storage.voices.protocol import EMBEDDING_DIM, Embedding

__all__ = ["EmbeddingType", "combine", "normalised", "vector_type"]


def normalised(embedding: Embedding, dims: int = EMBEDDING_DIM) -> npt.NDArray[np.float32]:
    """`embedding` as float32 of unit length; ValueError for a wrong length, NaN or zero."""
    vector = np.asarray(embedding, dtype=np.float64).reshape(-1)
    if vector.shape != (dims,):
        raise ValueError(f"an embedding has {dims} values, not {vector.size}")
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError("the embedding is zero or not finite")
    return (vector / norm).astype(np.float32)


def combine(
    first: Embedding, first_weight: float, second: Embedding, second_weight: float
) -> npt.NDArray[np.float32]:
    """The weighted mean of two unit embeddings, re-normalised (weights: speech or counts)."""
    a, b = normalised(first), normalised(second)
    total = max(first_weight, 0.0) + max(second_weight, 0.0)
    if total <= 0:
        return normalised(a + b)
    return normalised(a * (max(first_weight, 0.0) / total) + b * (max(second_weight, 0.0) / total))


def vector_type(dialect_name: str) -> TypeEngine[Any]:
    """The column type for embeddings on this database: pgvector's vector(256), else bytes."""
    if dialect_name == "postgresql":
        from pgvector.sqlalchemy import Vector

        return Vector(EMBEDDING_DIM)
    return LargeBinary()


class EmbeddingType(TypeDecorator[npt.NDArray[np.float32]]):
    """A unit float32 vector: `vector(256)` on PostgreSQL (pgvector), float32 bytes elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(vector_type(dialect.name))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        vector = np.asarray(value, dtype=np.float32)
        return vector if dialect.name == "postgresql" else vector.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> npt.NDArray[np.float32] | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32)
        return np.frombuffer(value, dtype=np.float32).copy()
