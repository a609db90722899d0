"""Rows to records, page cursors and input checks shared by the voice libraries."""

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from globalvoice.domain.errors import UserFacingError
from globalvoice.storage.voices.models import Voice, VoiceUseRow
from globalvoice.storage.voices.protocol import VoiceRecord

__all__ = ["clean_name", "decode_cursor", "encode_cursor", "json_document", "records"]


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 255:
        raise UserFacingError("a voice name has 1 to 255 characters")
    return cleaned


def json_document(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `profile` that is plain JSON (TypeError: it is not)."""
    document = json.loads(json.dumps(dict(profile), allow_nan=False))
    if not isinstance(document, dict):
        raise TypeError("a voice profile is a JSON object")
    return document


def records(session: Session, voices: Sequence[Voice]) -> list[VoiceRecord]:
    ids = [voice.id for voice in voices]
    counts: dict[str, int] = {}
    if ids:
        query = (
            select(VoiceUseRow.voice_id, func.count())
            .where(VoiceUseRow.voice_id.in_(ids))
            .group_by(VoiceUseRow.voice_id)
        )
        counts = {voice_id: int(count) for voice_id, count in session.execute(query)}
    return [
        VoiceRecord(
            id=voice.id,
            tenant_id=voice.tenant_id,
            name=voice.name,
            created_at=voice.created_at,
            updated_at=voice.updated_at,
            n_videos=counts.get(voice.id, 0),
            dims=len(voice.embedding),
            weight=float(voice.weight),
            has_reference=voice.reference_key is not None,
        )
        for voice in voices
    ]


def encode_cursor(voice: Voice) -> str:
    raw = json.dumps([voice.created_at.isoformat(), voice.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, voice_id = json.loads(raw)
        created = datetime.fromisoformat(stamp)
        if created.tzinfo is None or not isinstance(voice_id, str):
            raise ValueError(cursor)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise UserFacingError("invalid pagination cursor", detail=cursor) from exc
    return created, voice_id
