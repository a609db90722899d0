"""Finishing a dub, for the CLI and the service alike: the source subtitles, the transcript JSON,
each target's translation JSON and the manifest, written into one folder.

The per-target media (audio, video, speech stem, subtitles) were written by `steps.finish_target`
before; `finish` lists them in the manifest beside what it writes itself.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter

from globalvoice import __version__
from globalvoice.config.settings import PipelineSettings
from globalvoice.dubbing.entries import (
    LanguageResult,
    SpeakerFacts,
    diarization_entry,
    language_summary,
    overlap_entries,
    segment_entries,
    speaker_entries,
)
from globalvoice.dubbing.manifest import (
    ArtifactEntry,
    EngineEntry,
    InputEntry,
    LipsyncEntry,
    Manifest,
    SegmentEntry,
    SegmentTarget,
    SoundEntry,
)
from globalvoice.dubbing.outputs import source_cues, write_subtitles
from globalvoice.dubbing.request import output_stem
from globalvoice.dubbing.steps import SourceAnalysis
from globalvoice.dubbing.timing import StageTime

__all__ = [
    "MANIFEST_NAME",
    "DubRecord",
    "FinishedDub",
    "TranscriptFile",
    "TranslationSegment",
    "finish",
    "speaker_facts",
]

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class DubRecord:
    """Everything the manifest tells of a dub whose targets are rendered and assembled."""

    input_name: str  # the user's file name: kept in the manifest, never used for paths
    analysis: SourceAnalysis
    results: tuple[LanguageResult, ...]
    target_files: tuple[ArtifactEntry, ...]  # each target's media, already written
    engines: dict[str, EngineEntry]
    settings: PipelineSettings
    times: tuple[StageTime, ...]
    sound: SoundEntry
    lipsync: dict[str, LipsyncEntry]  # each target's picture
    stem_files: tuple[ArtifactEntry, ...] = ()  # the separated stems, already written


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishedDub:
    manifest: Manifest
    written: tuple[ArtifactEntry, ...]  # what `finish` wrote, the manifest last


class _Json(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TranscriptSegment(_Json):
    id: str
    start_ms: int
    end_ms: int
    speaker: str
    language: str
    text: str


class TranscriptFile(_Json):
    """`<stem>.transcript.json`: the source language's lines, as transcribed."""

    language: str
    segments: list[TranscriptSegment]


class TranslationSegment(SegmentTarget):
    """One line of `<stem>.<lang>.translation.json`: the source line and its dub."""

    id: str
    start_ms: int
    end_ms: int
    source_text: str


_TRANSLATION_FILE: TypeAdapter[list[TranslationSegment]] = TypeAdapter(list[TranslationSegment])


def speaker_facts(analysis: SourceAnalysis) -> SpeakerFacts:
    return SpeakerFacts(
        voices=analysis.voices,
        lines=analysis.lines,
        diarization=analysis.diarization,
        library=analysis.library_voices,
    )


def _transcript(analysis: SourceAnalysis) -> TranscriptFile:
    return TranscriptFile(
        language=analysis.transcript_language,
        segments=[
            TranscriptSegment(
                id=ln.id,
                start_ms=ln.start_ms,
                end_ms=ln.end_ms,
                speaker=ln.speaker_id,
                language=ln.language,
                text=ln.text,
            )
            for ln in analysis.lines
        ],
    )


def _translation(segments: list[SegmentEntry], language: str) -> bytes:
    rows = [
        TranslationSegment(
            id=s.id,
            start_ms=s.start_ms,
            end_ms=s.end_ms,
            source_text=s.source_text,
            **s.targets[language].model_dump(),
        )
        for s in segments
    ]
    return _TRANSLATION_FILE.dump_json(rows, indent=2)


def finish(record: DubRecord, out_dir: Path) -> FinishedDub:
    """Write the source subtitles, transcript, translations and manifest into `out_dir`."""
    analysis, stem = record.analysis, output_stem(record.input_name)
    source = analysis.source_language
    subtitles = write_subtitles(source_cues(analysis), out_dir / f"{stem}.{source}")
    written = [ArtifactEntry(language=source, kind=k, path=p) for k, p in subtitles.items()]
    transcript = f"{stem}.transcript.json"
    (out_dir / transcript).write_text(
        _transcript(analysis).model_dump_json(indent=2), encoding="utf-8"
    )
    written.append(ArtifactEntry(language=source, kind="transcript", path=transcript))
    segments = segment_entries(analysis.lines, record.results)
    for result in record.results:
        name = f"{stem}.{result.language}.translation.json"
        (out_dir / name).write_bytes(_translation(segments, result.language))
        written.append(ArtifactEntry(language=result.language, kind="translation", path=name))
    manifest = Manifest(
        globalvoice_version=__version__,
        input=InputEntry(name=record.input_name, sha256=analysis.digest, **asdict(analysis.info)),
        source_language=analysis.transcript_language,
        languages_detected=list(analysis.languages_detected),
        has_speech=bool(analysis.lines),
        speakers=speaker_entries(speaker_facts(analysis)),
        diarization=diarization_entry(analysis.diarization),
        overlaps=overlap_entries(analysis.diarization),
        engines=record.engines,
        sound=record.sound,
        lipsync={r.language: record.lipsync[r.language] for r in record.results},
        settings=record.settings,
        artifacts=[*written, *record.stem_files, *_in_order(record.target_files, record.results)],
        summary={r.language: language_summary(r) for r in record.results},
        segments=segments,
        stages=list(record.times),
    )
    (out_dir / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    written.append(ArtifactEntry(language="all", kind="manifest", path=MANIFEST_NAME))
    return FinishedDub(manifest=manifest, written=tuple(written))


def _in_order(
    files: tuple[ArtifactEntry, ...], results: tuple[LanguageResult, ...]
) -> list[ArtifactEntry]:
    """Targets in the request's order, each one's files by kind: the same list however the
    files were gathered (one process, or several workers)."""
    position = {r.language: index for index, r in enumerate(results)}
    return sorted(files, key=lambda a: (position.get(a.language, len(position)), a.kind))
