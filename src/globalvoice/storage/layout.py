"""Every object key and id the service makes, in one place. The bucket's layout:

    uploads/<tenant>/<upload>/source            an upload's bytes
    dubs/<tenant>/<dub>/<file>                  a dub's published outputs
    dubs/<tenant>/<dub>/work/<name>             what its stages hand one another
    voices/<tenant>/<voice>/reference.flac      a library voice's reference speech (biometric)
    artifacts/<k[:2]>/<k>.json|.npz             the artifact cache, by derivation key
    voice-bank/<k[:2]>/<k>.json|.npz            the CLI's shipped voices' reference takes

Ids are '<kind>_<32 hex digits>': 'ten_' tenants, 'key_' API keys, 'upl_' uploads, 'dub_' dubs,
'voc_' library voices. Deleting a dub or a voice deletes its prefix, so nothing of another may
live under it.
"""

import uuid
from typing import Literal

from globalvoice.storage.keys import validate_key

__all__ = [
    "ARTIFACTS_PREFIX",
    "VOICE_BANK_PREFIX",
    "IdKind",
    "artifact_key",
    "dub_prefix",
    "new_id",
    "reference_key",
    "upload_key",
    "voice_prefix",
    "work_key",
    "workflow_id",
]

IdKind = Literal["ten", "key", "upl", "dub", "voc"]

ARTIFACTS_PREFIX = "artifacts/"
VOICE_BANK_PREFIX = "voice-bank/"


def new_id(kind: IdKind) -> str:
    """A random id with its type prefix: 'dub_3f0c...' (32 hex digits)."""
    return f"{kind}_{uuid.uuid4().hex}"


def workflow_id(dub_id: str) -> str:
    """The Temporal workflow id of a dub (one workflow per dub)."""
    return f"globalvoice-{dub_id}"


def _folder(*segments: str) -> str:
    """`segments` joined as a folder prefix; each must be one safe segment, so no id can name
    another's folder ('..', '', 'a/b')."""
    for segment in segments:
        if "/" in segment:
            raise ValueError(f"an id must not contain '/': {segment!r}")
    return validate_key("/".join(segments)) + "/"


def upload_key(tenant_id: str, upload_id: str) -> str:
    return _folder("uploads", tenant_id, upload_id) + "source"


def dub_prefix(tenant_id: str, dub_id: str) -> str:
    """Everything of one dub: its outputs and its work files."""
    return _folder("dubs", tenant_id, dub_id)


def work_key(tenant_id: str, dub_id: str, name: str) -> str:
    """A file one stage of a dub hands to the next (analysis, translations, speech)."""
    return validate_key(f"{dub_prefix(tenant_id, dub_id)}work/{name}")


def voice_prefix(tenant_id: str, voice_id: str) -> str:
    return _folder("voices", tenant_id, voice_id)


def reference_key(tenant_id: str, voice_id: str) -> str:
    return voice_prefix(tenant_id, voice_id) + "reference.flac"


def artifact_key(prefix: str, key: str, suffix: str) -> str:
    """A cached artifact under `prefix` (ARTIFACTS_PREFIX, VOICE_BANK_PREFIX): derivation key
    `key`, fanned out by its first two characters; `suffix` '.json' or '.npz'."""
    return f"{prefix}{key[:2]}/{key}{suffix}"
