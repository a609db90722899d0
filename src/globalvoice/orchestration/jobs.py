"""What the API hands to orchestration: a dub job (references only) and the launcher protocol."""

from dataclasses import dataclass, field
from typing import Any, Protocol

from globalvoice.config.settings import PipelineSettings
from globalvoice.dubbing.request import DubOptions

__all__ = ["DubJob", "DubLauncher", "job_pipeline"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DubJob:
    dub_id: str
    tenant_id: str
    upload_key: str  # object key of the source media in the blob store
    filename: str  # the user's file name: the manifest's; output names from output_stem(it)
    targets: list[str]
    source: str | None = None  # None = detect
    # validated by the API (a pydantic dataclass: Temporal's JSON converter carries it)
    options: DubOptions = field(default_factory=DubOptions)
    glossary: list[dict[str, Any]] = field(default_factory=list)  # domain.glossary records


def job_pipeline(defaults: PipelineSettings, job: DubJob) -> PipelineSettings:
    """The worker's pipeline settings with the job's options, validated."""
    return job.options.apply(defaults)


class DubLauncher(Protocol):
    async def start(self, job: DubJob) -> str:
        """Start the dub's workflow; returns its workflow id. Idempotent per dub id."""
        ...

    async def cancel(self, dub_id: str) -> None:
        """Ask the dub's workflow to stop; a no-op when it has already finished."""
        ...
