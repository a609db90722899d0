"""The voice library: each tenant's speakers, kept across videos so a person keeps one voice.

A voice is an embedding (an L2-normalised speaker vector), an opaque profile (the JSON document
of the pipeline's VoiceProfile) and, optionally, a reference recording in the blob store under
`voices/<tenant>/<voice_id>/reference.flac`. All of it is biometric data: `delete` and `merge`
remove every trace of a voice (rows, profile, embedding, reference object).

Every method takes the tenant id and sees only that tenant's voices: another tenant's id reads
as missing (None / False).
"""

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["EMBEDDING_DIM", "Embedding", "VoiceLibrary", "VoiceMatch", "VoiceRecord", "VoiceUse"]

EMBEDDING_DIM = 256  # the voicefilter d-vector; the pgvector column is vector(256)

Embedding = npt.NDArray[np.float32] | Sequence[float]


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceRecord:
    id: str  # "voc_<32 hex>"
    tenant_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    n_videos: int  # distinct sources (dub ids or video digests) recorded with record_use
    dims: int
    weight: float  # how much speech (or how many voices) the embedding averages
    has_reference: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMatch:
    record: VoiceRecord
    cosine: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceUse:
    source: str  # a dub id or a video digest
    used_at: datetime


class VoiceLibrary(Protocol):
    def add(
        self,
        tenant_id: str,
        name: str,
        embedding: Embedding,
        profile: Mapping[str, Any],
        reference_audio: bytes | Path | None = None,
        *,
        weight: float = 1.0,
    ) -> VoiceRecord:
        """A new voice. `embedding` is normalised here; `reference_audio` is FLAC (bytes or a
        file) stored as `voices/<tenant>/<id>/reference.flac`."""
        ...

    def match(self, tenant_id: str, embedding: Embedding, threshold: float) -> VoiceMatch | None:
        """The tenant's voice most similar to `embedding`, if its cosine is >= `threshold`."""
        ...

    def get(self, tenant_id: str, voice_id: str) -> VoiceRecord | None: ...

    def list(
        self, tenant_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[VoiceRecord], str | None]:
        """A page of the tenant's voices, newest first, and the next page's cursor (None: last).
        Raises UserFacingError for a cursor this library did not make."""
        ...

    def profile(self, tenant_id: str, voice_id: str) -> dict[str, Any] | None: ...

    def embedding(self, tenant_id: str, voice_id: str) -> npt.NDArray[np.float32] | None: ...

    def reference_audio(self, tenant_id: str, voice_id: str) -> bytes | None: ...

    def rename(self, tenant_id: str, voice_id: str, name: str) -> VoiceRecord | None: ...

    def merge(self, tenant_id: str, keep_id: str, absorb_id: str) -> VoiceRecord | None:
        """Fold `absorb_id` into `keep_id`: the weighted mean of both embeddings (re-normalised),
        both voices' uses; `keep_id` keeps its name, profile and reference. `absorb_id` is then
        deleted with every trace. None when either voice is missing; ValueError when equal."""
        ...

    def delete(self, tenant_id: str, voice_id: str) -> bool:
        """Remove the voice's rows (embedding, profile, uses, assignments) and its reference
        object. False when the tenant has no such voice."""
        ...

    def record_use(self, tenant_id: str, voice_id: str, source: str) -> bool:
        """Note that the voice spoke in `source` (a dub id or a video digest); idempotent."""
        ...

    def uses(self, tenant_id: str, voice_id: str) -> builtins.list[VoiceUse]: ...

    def assign(self, tenant_id: str, dub_id: str, speaker_id: str, voice_id: str) -> bool:
        """Give speaker `speaker_id` of dub `dub_id` this voice (replacing an earlier choice);
        False when the tenant has no such voice."""
        ...

    def assignments(self, tenant_id: str, dub_id: str) -> dict[str, str]:
        """Speaker id -> voice id chosen for the dub with `assign`."""
        ...

    def close(self) -> None: ...
