"""The voice library the settings name: pgvector when `voice_index_url` is set, else SQLite."""

from globalvoice.config.settings import ServiceSettings
from globalvoice.storage.blobs import BlobStore, build_blob_store
from globalvoice.storage.voices.protocol import VoiceLibrary

__all__ = ["LOCAL_TENANT", "build_voice_library"]

LOCAL_TENANT = "local"  # the tenant of the embedded CLI's voices (no service, no API keys)


def build_voice_library(
    service: ServiceSettings, store: BlobStore | None = None, *, migrate: bool = True
) -> VoiceLibrary:
    """Reference audio goes to `store` (default: the configured blob store)."""
    store = store or build_blob_store(service.storage, service.data_dir)
    if service.voice_index_url:
        from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

        return PgVectorVoiceLibrary(service.voice_index_url, store, migrate=migrate)
    from globalvoice.storage.voices.local import LocalVoiceLibrary

    return LocalVoiceLibrary(service.data_dir / "voices.db", store, migrate=migrate)
