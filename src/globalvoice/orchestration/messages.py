"""What activities take and return: references to objects in the blob store, never media."""

from dataclasses import dataclass, field

from globalvoice.dubbing.timing import StageTime
from globalvoice.orchestration.jobs import DubJob
from globalvoice.storage import layout

__all__ = [
    "Analysed",
    "FinishInput",
    "LipSynced",
    "Separated",
    "TargetChain",
    "TargetInput",
    "TargetResult",
    "work_key",
]


def work_key(job: DubJob, name: str) -> str:
    return layout.work_key(job.tenant_id, job.dub_id, name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysed:
    analysis_key: str
    source_language: str
    line_count: int
    engines: dict[str, dict[str, str]]
    times: list[StageTime]


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetInput:
    job: DubJob
    analysis_key: str
    target: str
    translated_key: str = ""
    rendered_key: str = ""
    speech_key: str = ""
    background_key: str = ""  # the separated stems ("": the source is ducked under the dub)
    dialogue_key: str = ""
    redrawn_key: str = ""  # the lip-synced picture ("": the source's)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetResult:
    target: str
    key: str  # the JSON this step wrote (translation or rendering)
    route: str = ""
    speech_key: str = ""
    engine: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # artifact kind -> object key
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    times: list[StageTime] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class LipSynced:
    """A target's picture: the manifest's LipsyncEntry and the redrawn video, if any."""

    target: str
    entry: str  # the manifest's LipsyncEntry, as JSON
    video_key: str = ""  # the redrawn picture, video only ("": the source's is kept)
    engines: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> EngineEntry
    times: list[StageTime] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetChain:
    """One target's steps in order; a dub with no speech only assembles (the source as is)."""

    translated: TargetResult | None
    rendered: TargetResult | None
    assembled: TargetResult
    lipsynced: LipSynced | None = None  # None: no speech, the picture not looked at


@dataclass(frozen=True, slots=True, kw_only=True)
class Separated:
    sound: str  # the manifest's SoundEntry, as JSON
    stems: dict[str, str] = field(default_factory=dict)  # "background"/"dialogue" -> object key
    languages: dict[str, str] = field(default_factory=dict)  # the stems' artifact languages
    engine: dict[str, str] = field(default_factory=dict)  # the separator's EngineEntry, if used
    times: list[StageTime] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishInput:
    job: DubJob
    analysed: Analysed
    chains: list[TargetChain]  # one per target, in the job's order
    separated: Separated | None = None  # None: no speech, nothing separated
