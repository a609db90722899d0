"""The manifest: every artifact, every segment and how it was dubbed, and each stage's time."""

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from globalvoice.domain.media import MediaInfo
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization
from globalvoice.dubbing.steps import Placement, RenderedLine
from globalvoice.dubbing.timing import StageTime
from globalvoice.media.loudness import LoudnessReading
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.pipeline.voices.recall import LibraryVoice

__all__ = [
    "MANIFEST_SCHEMA",
    "Artifact",
    "LanguageResult",
    "build_manifest",
    "fit_summary",
    "segment_entries",
    "speaker_entries",
]

# Version 2: each segment's target has its fitting chain ("fit": steps, tempo, borrowed silence,
# candidate, flagged) and each language's summary the chain's outcome ("fit").
MANIFEST_SCHEMA = "globalvoice.manifest/2"
COMFORTABLE_TEMPO = 1.15  # the share of lines placed at or under this tempo is reported


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    language: str
    kind: str  # video | audio | subtitles_srt | subtitles_vtt
    path: str  # relative to the output directory


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageResult:
    language: str
    route: str
    rendered: tuple[RenderedLine, ...]
    loudness: LoudnessReading | None


def segment_entries(
    lines: Sequence[Line], results: Sequence[LanguageResult]
) -> list[dict[str, Any]]:
    entries = []
    for index, line in enumerate(lines):
        targets: dict[str, Any] = {}
        for result in results:
            render = result.rendered[index]
            take = render.placement
            targets[result.language] = {
                "text": render.translated.text,
                "is_dubbed": render.translated.is_dubbed,
                "note": render.translated.note,
                "candidate": render.translated.chosen,
                "candidates": len(render.translated.alternatives) or 1,
                "dubbed_start_ms": take.start_ms if take else None,
                "dubbed_end_ms": take.end_ms if take else None,
                "slot_ms": take.slot_ms if take else None,
                "natural_ms": take.natural_ms if take else None,
                "tempo": take.tempo if take else None,
                "tts_speed": take.tts_speed_permille / 1000 if take else None,
                "outcome": take.outcome.value if take else "kept_original",
                "fits": take.fits if take else True,
                "fit": _fit_entry(take, render.translated.chosen) if take else None,
            }
        entries.append(
            {
                "id": line.id,
                "speaker": line.speaker_id,
                "start_ms": line.start_ms,
                "end_ms": line.end_ms,
                "source_language": line.language,
                "source_text": line.text,
                "targets": targets,
            }
        )
    return entries


def _final_step(take: Placement) -> str:
    """The step that made the line fit: the chain's last used ('natural' when none was)."""
    return take.steps[-1].kind.value if take.steps else "natural"


def _fit_entry(take: Placement, chosen: int) -> dict[str, Any]:
    """A dubbed line's fitting chain: its steps in order, and what they came to."""
    return {
        "steps": [step.label for step in take.steps],
        "final_step": _final_step(take),
        "tempo": take.tempo,
        "borrowed_ms": take.borrowed_ms,
        "candidate": chosen,
        "flagged": not take.fits,
    }


def _percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def fit_summary(takes: Sequence[Placement]) -> dict[str, Any]:
    """A language's fitting-chain outcome: lines by final step, the share placed at or under
    the comfortable tempo and within the cap (not flagged), the tempo distribution (nearest-
    rank percentiles) and the silence borrowed."""
    tempos = [t.tempo for t in takes]
    counts = Counter(_final_step(t) for t in takes)
    used = Counter(step.kind.value for t in takes for step in t.steps)
    return {
        "final_steps": dict(sorted(counts.items())),
        "steps_used": dict(sorted(used.items())),
        "share_tempo_le_1_15": (
            round(sum(t <= COMFORTABLE_TEMPO for t in tempos) / len(tempos), 4) if tempos else None
        ),
        "share_within_cap": round(sum(t.fits for t in takes) / len(takes), 4) if takes else None,
        "tempo_percentiles": {
            f"p{p}": _percentile(tempos, p / 100) for p in (10, 25, 50, 75, 90, 95, 100)
        },
        "borrowed_ms_total": sum(t.borrowed_ms for t in takes),
        "retranslated": used.get("retranslate", 0),
    }


def speaker_entries(
    voices: dict[str, SpeakerVoice],
    lines: Sequence[Line],
    diarization: Diarization | None,
    library: Mapping[str, LibraryVoice] | None = None,
) -> list[dict[str, Any]]:
    """Each speaker: the voice their lines were synthesized with and its profile (blend, DSP,
    reference spans; never the embedding), their library voice (id, name, and how it was
    chosen: assigned, matched with its cosine, or new; null without a library), their turns,
    speech time and line ids."""
    found = diarization.speaker_ids if diarization is not None else ()
    entries = []
    for speaker in dict.fromkeys([*found, *voices]):
        voice = voices.get(speaker)
        entry: dict[str, Any] = {"speaker_id": speaker}
        if voice is not None:
            entry |= {
                "median_f0_hz": voice.median_f0_hz,
                "formant_dispersion_hz": voice.formant_dispersion_hz,
                "is_female": voice.is_female,
                "voice": voice.synthesis_voice,
                "voice_profile": voice.profile.summary() if voice.profile is not None else None,
            }
        known = (library or {}).get(speaker)
        entry["library_voice"] = asdict(known) if known is not None else None
        entry["lines"] = [line.id for line in lines if line.speaker_id == speaker]
        if diarization is not None:
            turns = diarization.turns_of(speaker)
            entry["speech_ms"] = sum(turn.duration_ms for turn in turns)
            entry["turns"] = [[turn.start_ms, turn.end_ms] for turn in turns]
        entries.append(entry)
    return entries


def _diarization_summary(diarization: Diarization | None) -> dict[str, Any] | None:
    if diarization is None:
        return None
    return {
        "estimated_count": diarization.estimated_count,
        "requested_count": diarization.requested_count,
        "embedder": diarization.embedder,
    }


def build_manifest(
    *,
    version: str,
    input_name: str,
    input_digest: str,
    info: MediaInfo,
    source_language: str,
    languages_detected: Sequence[str],
    has_speech: bool,
    voices: dict[str, SpeakerVoice],
    engines: dict[str, dict[str, str]],
    settings: dict[str, Any],
    artifacts: Sequence[Artifact],
    lines: Sequence[Line],
    results: Sequence[LanguageResult],
    times: Sequence[StageTime],
    diarization: Diarization | None = None,
    library_voices: Mapping[str, LibraryVoice] | None = None,
) -> dict[str, Any]:
    summary = {}
    for result in results:
        takes = [r.placement for r in result.rendered if r.placement is not None]
        summary[result.language] = {
            "route": result.route,
            "lines": len(result.rendered),
            "dubbed": len(takes),
            "fits": sum(t.fits for t in takes),
            "flagged": [t.line_id for t in takes if not t.fits],
            "max_tempo": max((t.tempo for t in takes), default=1.0),
            "fit": fit_summary(takes),
            "loudness_lufs": round(result.loudness.integrated_lufs, 2) if result.loudness else None,
            "true_peak_dbtp": round(result.loudness.true_peak_dbtp, 2) if result.loudness else None,
        }
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "globalvoice_version": version,
        "input": {"name": input_name, "sha256": input_digest, **asdict(info)},
        "source_language": source_language,
        "languages_detected": list(languages_detected),
        "has_speech": has_speech,
        "speakers": speaker_entries(voices, lines, diarization, library_voices),
        "diarization": _diarization_summary(diarization),
        "overlaps": [asdict(o) for o in diarization.overlaps] if diarization is not None else [],
        "engines": engines,
        "settings": settings,
        "artifacts": [asdict(a) for a in artifacts],
        "summary": summary,
        "segments": segment_entries(lines, results),
        "stages": [asdict(t) for t in times],
    }
    # As it reads back from manifest.json (tuples become lists), so callers see the file's data.
    normalised: dict[str, Any] = json.loads(json.dumps(manifest, ensure_ascii=False))
    return normalised
