"""The voice library: tenants' speaker voices (embedding, profile, reference audio) across videos.

`VoiceLibrary` (protocol), `LocalVoiceLibrary` (SQLite, exact search), `PgVectorVoiceLibrary`
(PostgreSQL + pgvector HNSW) and `build_voice_library(ServiceSettings)`.
"""

from globalvoice.storage.voices.factory import LOCAL_TENANT, build_voice_library
from globalvoice.storage.voices.local import LocalVoiceLibrary
from globalvoice.storage.voices.protocol import (
    EMBEDDING_DIM,
    Embedding,
    VoiceLibrary,
    VoiceMatch,
    VoiceRecord,
    VoiceUse,
)

__all__ = [
    "EMBEDDING_DIM",
    "LOCAL_TENANT",
    "Embedding",
    "LocalVoiceLibrary",
    "VoiceLibrary",
    "VoiceMatch",
    "VoiceRecord",
    "VoiceUse",
    "build_voice_library",
]
