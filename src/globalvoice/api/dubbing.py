"""Creating a dub: every check runs before any dub row exists (blocking; call from a thread)."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from globalvoice.api.context import ApiContext, LanguageSupport
from globalvoice.api.errors import Conflict, FeatureUnavailable, PayloadTooLarge
from globalvoice.api.uploading import scratch_file, stored_upload
from globalvoice.domain.errors import NotFound, UnsupportedLanguage
from globalvoice.domain.glossary import (
    GlossaryEntry,
    entry_from_record,
    entry_record,
    merge_glossaries,
)
from globalvoice.domain.media import MediaInfo
from globalvoice.dubbing.request import DubOptions, check_limits, check_target_count, scratch_name
from globalvoice.pipeline.analyse import ingest
from globalvoice.storage.db import repo
from globalvoice.storage.db.models import Dub, Upload

__all__ = ["DubRequest", "check_languages", "create_dub", "expected_duration_s"]

# Processing time, from benchmarks/results (1 min of English to one target on 2 CPU cores:
# model load 2-3 s, transcription 7-10 s, synthesis and fitting 43-49 s, mixing and encoding
# 3-4 s): a fixed start-up cost, analysis once, then the per-target work, targets in sequence.
_STARTUP_S = 15.0
_ANALYSE_PER_MEDIA_S = 0.2
_TARGET_PER_MEDIA_S = 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class DubRequest:
    upload_id: str
    targets: list[str]  # normalised, in order, without repeats
    source: str | None
    options: DubOptions
    idempotency_key: str | None
    voices: Mapping[str, str] = field(default_factory=dict)  # speaker id -> library voice id
    glossary: tuple[GlossaryEntry, ...] = ()  # the request's own entries


def expected_duration_s(info: MediaInfo, targets: int) -> float:
    media_s = (info.duration_ms or info.audio_duration_ms or 0) / 1000
    per_media = _ANALYSE_PER_MEDIA_S + _TARGET_PER_MEDIA_S * targets
    return round(_STARTUP_S + media_s * per_media, 1)


def check_languages(languages: LanguageSupport, source: str | None, targets: list[str]) -> None:
    """As pipeline.dub.check_targets and translate.check_pairs, without loading any engine."""
    unspeakable = [t for t in targets if t not in languages.targets]
    if unspeakable:
        raise UnsupportedLanguage(
            f"No voice for {', '.join(unspeakable)}. Target languages with a voice: "
            f"{', '.join(sorted(languages.targets))}."
        )
    if source is None:
        return  # detected by the dub itself, which fails with the same message if need be
    missing = [t for t in targets if t != source and (source, t) not in languages.pairs]
    if missing:
        supported = ", ".join(f"{s}->{t}" for s, t in sorted(languages.pairs))
        raise UnsupportedLanguage(
            f"Cannot translate {source} to {', '.join(missing)}. Supported pairs: {supported}."
        )


def probe_upload(ctx: ApiContext, upload: Upload) -> MediaInfo:
    """Download the upload and validate it as dubbable media (UserFacingError otherwise).

    The scratch path is "source.<ext>", never the user's file name; errors call it by the
    user's name. A folder store's object is probed where it lies, through a link: a copy would
    cost the whole file (2 GiB of a sparse WAV written out) for reading its header."""
    with scratch_file(ctx, "probe-") as body:
        path = body.with_name(scratch_name(upload.filename))
        local = ctx.store.local_path(upload.object_key)
        if local is not None and local.is_file():
            path.symlink_to(local)
        elif not ctx.store.download(upload.object_key, path):
            raise Conflict(f"Upload {upload.id} has no content yet: send the file first.")
        return ingest.probe_input(path, name=upload.filename)


def _replayed(ctx: ApiContext, tenant_id: str, request: DubRequest) -> Dub | None:
    """The dub an earlier request with this Idempotency-Key made (repo.create_dub decides)."""
    if request.idempotency_key is None:
        return None
    query = select(Dub.id).where(
        Dub.tenant_id == tenant_id, Dub.idempotency_key == request.idempotency_key
    )
    with ctx.sessions.begin() as session:
        found = session.scalar(query)
    # create_dub returns the dub for the same request, or raises IdempotencyConflict
    return None if found is None else _insert(ctx, tenant_id, request, None)[0]


def _insert(
    ctx: ApiContext, tenant_id: str, request: DubRequest, expected_s: float | None
) -> tuple[Dub, bool]:
    with ctx.sessions.begin() as session:
        tenant = [entry_from_record(r) for r in repo.get_glossary(session, tenant_id)]
        glossary = [entry_record(e) for e in merge_glossaries(tenant, request.glossary)]
        return repo.create_dub(
            session,
            tenant_id,
            repo.NewDub(
                upload_id=request.upload_id,
                target_languages=request.targets,
                source_language=request.source,
                options=request.options.overrides(),
                idempotency_key=request.idempotency_key,
                expected_duration_s=expected_s,
                glossary=glossary,
                request_glossary=[entry_record(e) for e in request.glossary],
            ),
        )


def _check_voices(ctx: ApiContext, tenant_id: str, voices: Mapping[str, str]) -> None:
    if not voices:
        return
    if ctx.voices is None:
        raise FeatureUnavailable("This server has no voice library configured.")
    for voice_id in dict.fromkeys(voices.values()):
        if ctx.voices.get(tenant_id, voice_id) is None:
            raise NotFound(f"No voice {voice_id}.")


def create_dub(ctx: ApiContext, tenant_id: str, request: DubRequest) -> tuple[Dub, Upload, bool]:
    """Validate, then insert: (dub, its upload, True) or a replay (existing dub, upload, False).
    A new dub's `voices` are recorded as its speakers' voice assignments (the analysis applies
    them).

    Raises NotFound (no such upload or voice for this tenant), Conflict (no content yet),
    PayloadTooLarge, UnsupportedLanguage, MediaUnreadable/NoAudioTrack/UnsafeMedia, the limits'
    TooManyTargets/InputTooLarge/InputTooLong (from the probe: nothing is decoded), and
    IdempotencyConflict (the key was used for another request).
    """
    replay = _replayed(ctx, tenant_id, request)
    upload = stored_upload(ctx, tenant_id, request.upload_id)
    if replay is not None:
        return replay, upload, False
    limit = ctx.settings.max_upload_bytes
    if upload.size_bytes > limit:
        raise PayloadTooLarge(f"{upload.filename} is larger than the {limit}-byte limit.")
    check_target_count(request.targets, ctx.limits)
    check_languages(ctx.languages, request.source, request.targets)
    _check_voices(ctx, tenant_id, request.voices)
    info = probe_upload(ctx, upload)
    check_limits(info, ctx.limits, name=upload.filename)
    dub, created = _insert(ctx, tenant_id, request, expected_duration_s(info, len(request.targets)))
    if created and ctx.voices is not None:
        for speaker_id, voice_id in request.voices.items():
            if not ctx.voices.assign(tenant_id, dub.id, speaker_id, voice_id):
                with ctx.sessions.begin() as session:  # deleted since the check: no dub either
                    repo.delete_dub(session, tenant_id, dub.id)
                raise NotFound(f"No voice {voice_id}.")
    return dub, upload, created
