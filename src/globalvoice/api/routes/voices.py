"""/v1/voices: the tenant's voice library (list, read, rename, merge, delete) and the choice of a
library voice for a speaker of a dub. Deleting a voice removes its embedding, profile and
reference audio (biometric data); another tenant's voice reads as missing (404)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from globalvoice.api.context import ApiContext
from globalvoice.api.deps import ContextDep, TenantDep
from globalvoice.api.errors import FeatureUnavailable
from globalvoice.api.voice_schemas import (
    DubVoicesOut,
    VoiceAssign,
    VoiceDetail,
    VoiceMerge,
    VoiceOut,
    VoicePage,
    VoiceRename,
)
from globalvoice.domain.errors import NotFound, UserFacingError
from globalvoice.storage.db import repo
from globalvoice.storage.voices import VoiceLibrary, VoiceRecord

__all__ = ["router"]

router = APIRouter(tags=["voices"])
MAX_PAGE = 100
SpeakerId = Annotated[str, Path(pattern=r"^S[1-9][0-9]?$", examples=["S1"])]


def _library(ctx: ApiContext) -> VoiceLibrary:
    if ctx.voices is None:
        raise FeatureUnavailable("This server has no voice library configured.")
    return ctx.voices


def _out(record: VoiceRecord | None, voice_id: str) -> VoiceOut:
    if record is None:
        raise NotFound(f"No voice {voice_id}.")
    return VoiceOut(
        id=record.id,
        name=record.name,
        created_at=record.created_at,
        updated_at=record.updated_at,
        n_videos=record.n_videos,
        dims=record.dims,
        has_reference=record.has_reference,
    )


@router.get("/v1/voices", summary="The tenant's voice library, newest first")
def list_voices(
    ctx: ContextDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> VoicePage:
    records, next_cursor = _library(ctx).list(tenant, limit=limit, cursor=cursor)
    voices = [_out(record, record.id) for record in records]
    return VoicePage(voices=voices, next_cursor=next_cursor, has_more=next_cursor is not None)


@router.get("/v1/voices/{voice_id}", summary="A voice and the dubs or videos it spoke in")
def get_voice(voice_id: str, ctx: ContextDep, tenant: TenantDep) -> VoiceDetail:
    library = _library(ctx)
    voice = _out(library.get(tenant, voice_id), voice_id)
    uses = [{"source": u.source, "used_at": u.used_at} for u in library.uses(tenant, voice_id)]
    return VoiceDetail.model_validate({**voice.model_dump(), "uses": uses})


@router.patch("/v1/voices/{voice_id}", summary="Rename a voice")
def rename_voice(voice_id: str, body: VoiceRename, ctx: ContextDep, tenant: TenantDep) -> VoiceOut:
    return _out(_library(ctx).rename(tenant, voice_id, body.name), voice_id)


@router.post(
    "/v1/voices/{voice_id}/merge",
    summary="Fold another voice into this one (the same person); the other is deleted",
)
def merge_voice(voice_id: str, body: VoiceMerge, ctx: ContextDep, tenant: TenantDep) -> VoiceOut:
    if body.absorb_id == voice_id:
        raise UserFacingError("A voice cannot be merged into itself.")
    library = _library(ctx)
    if library.get(tenant, body.absorb_id) is None:
        raise NotFound(f"No voice {body.absorb_id}.")
    return _out(library.merge(tenant, voice_id, body.absorb_id), voice_id)


@router.delete(
    "/v1/voices/{voice_id}",
    status_code=204,
    summary="Delete a voice: its embedding, profile and reference audio",
)
def delete_voice(voice_id: str, ctx: ContextDep, tenant: TenantDep) -> Response:
    if not _library(ctx).delete(tenant, voice_id):
        raise NotFound(f"No voice {voice_id}.")
    return Response(status_code=204)


@router.put(
    "/v1/dubs/{dub_id}/speakers/{speaker_id}/voice",
    summary="Speak this speaker of the dub with a library voice",
    tags=["dubs"],
)
def assign_voice(
    dub_id: str, speaker_id: SpeakerId, body: VoiceAssign, ctx: ContextDep, tenant: TenantDep
) -> DubVoicesOut:
    """Record that the speaker is to speak with this library voice (replacing an earlier choice).

    Assignments take effect when the dub's source is analysed: make them before that step runs
    (or give them when creating the dub, as its `voices`). An assignment made after the analysis
    is recorded and listed here but does not change a dub already analysed (there is no re-dub
    yet). Once analysed, the dub's `speakers` show each speaker's voice and how it was chosen.
    """
    library = _library(ctx)
    with ctx.sessions.begin() as session:
        dub = repo.get_dub(session, tenant, dub_id)
        manifest = dub.manifest if dub is not None else None
    if dub is None:
        raise NotFound(f"No dub {dub_id}.")
    speakers = (manifest or {}).get("speakers")
    if isinstance(speakers, list) and speakers:  # analysed: the speaker must be one of them
        known = {entry.get("speaker_id") for entry in speakers if isinstance(entry, dict)}
        if speaker_id not in known:
            raise NotFound(f"Dub {dub_id} has no speaker {speaker_id}.")
    if not library.assign(tenant, dub_id, speaker_id, body.voice_id):
        raise NotFound(f"No voice {body.voice_id}.")
    return DubVoicesOut(dub_id=dub_id, voices=library.assignments(tenant, dub_id))
