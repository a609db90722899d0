"""Database rows to response bodies."""

from typing import Any

from globalvoice.api.glossary_schemas import GlossaryEntryIn
from globalvoice.api.schemas import (
    ArtifactOut,
    DubOut,
    DubSpeakerOut,
    ErrorInfo,
    ProgressOut,
    StageProgressOut,
    UploadOut,
)
from globalvoice.storage.db.models import Dub, DubArtifact, Upload

__all__ = ["artifact_path", "dub_out", "progress_out", "speakers_out", "upload_out"]

# Share of a target language's work per stage (benchmarks/results: synthesis dominates).
_LANGUAGE_WEIGHTS = {"translate": 0.05, "synthesize": 0.95}


def upload_out(upload: Upload) -> UploadOut:
    return UploadOut(
        id=upload.id,
        filename=upload.filename,
        content_type=upload.content_type,
        size_bytes=upload.size_bytes,
        status="stored" if upload.status == "stored" else "pending",
        created_at=upload.created_at,
    )


def _stages(progress: dict[str, Any]) -> list[StageProgressOut]:
    """`progress[stage][language or ""] = {"done", "total"}` (storage.db.repo), flattened."""
    stages = []
    for stage, by_language in progress.items():
        if not isinstance(by_language, dict):
            continue
        for language, counts in by_language.items():
            if not isinstance(counts, dict):
                continue
            done, total = int(counts.get("done", 0)), int(counts.get("total", 0))
            fraction = min(1.0, done / total) if total > 0 else 0.0
            stages.append(
                StageProgressOut(
                    stage=stage,
                    language=language or None,
                    done=done,
                    total=total,
                    fraction=round(fraction, 4),
                )
            )
    return stages


def progress_out(dub: Dub) -> ProgressOut:
    stages = _stages(dub.progress or {})
    languages = dict.fromkeys(dub.target_languages, 0.0)
    for item in stages:
        if item.language in languages and item.stage in _LANGUAGE_WEIGHTS:
            languages[item.language] += _LANGUAGE_WEIGHTS[item.stage] * item.fraction
    if dub.status == "succeeded":
        languages = dict.fromkeys(languages, 1.0)
    return ProgressOut(
        stages=stages, languages={k: round(min(v, 1.0), 4) for k, v in languages.items()}
    )


def artifact_path(dub_id: str, language: str, kind: str) -> str:
    return f"/v1/dubs/{dub_id}/artifacts/{language}/{kind}"


def speakers_out(manifest: dict[str, Any] | None) -> list[DubSpeakerOut]:
    """The speakers the analysis recorded on the dub (`{"speakers": [...]}`), if any."""
    entries = (manifest or {}).get("speakers")
    if not isinstance(entries, list):
        return []
    return [
        DubSpeakerOut.model_validate(
            {
                "speaker_id": e.get("speaker_id"),
                "voice": e.get("voice"),
                "library_voice": e.get("library_voice"),
            }
        )
        for e in entries
        if isinstance(e, dict)
    ]


def dub_out(dub: Dub, artifacts: list[DubArtifact], base_url: str) -> DubOut:
    error = None
    if dub.error_code or dub.error_message:
        error = ErrorInfo(code=dub.error_code or "failed", message=dub.error_message or "")
    return DubOut(
        id=dub.id,
        status=dub.status,  # type: ignore[arg-type]  # the column holds a DubStatus
        upload_id=dub.upload_id,
        source_language=dub.source_language,
        detected_language=dub.detected_language,
        target_languages=list(dub.target_languages),
        options=dict(dub.options or {}),
        glossary=[GlossaryEntryIn.model_validate(r) for r in dub.glossary or []],
        expected_duration_s=dub.expected_duration_s,
        progress=progress_out(dub),
        error=error,
        artifacts=[
            ArtifactOut(
                language=a.language,
                kind=a.kind,
                content_type=a.content_type,
                size_bytes=a.size_bytes,
                url=base_url.rstrip("/") + artifact_path(dub.id, a.language, a.kind),
            )
            for a in artifacts
        ],
        speakers=speakers_out(dub.manifest),
        created_at=dub.created_at,
        updated_at=dub.updated_at,
    )
