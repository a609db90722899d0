"""The manifest's entries, built from the dub's typed results (speakers, segments, summaries)."""

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from globalvoice.domain.render import Placement
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization
from globalvoice.dubbing.manifest import (
    DiarizationEntry,
    FitEntry,
    FitSummary,
    LanguageSummary,
    LibraryVoiceEntry,
    OverlapEntry,
    SegmentEntry,
    SegmentTarget,
    SpeakerEntry,
)
from globalvoice.media.loudness import LoudnessReading
from globalvoice.pipeline.render.synthesize import RenderedLine
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.pipeline.voices.recall import LibraryVoice

__all__ = [
    "COMFORTABLE_TEMPO",
    "LanguageResult",
    "diarization_entry",
    "fit_summary",
    "language_summary",
    "overlap_entries",
    "segment_entries",
    "speaker_entries",
]

COMFORTABLE_TEMPO = 1.15  # the share of lines placed at or under this tempo is reported


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageResult:
    """One target's dub: its route, every line as rendered, the measured loudness."""

    language: str
    route: str
    rendered: tuple[RenderedLine, ...]
    loudness: LoudnessReading | None


def _final_step(take: Placement) -> str:
    """The step that made the line fit: the chain's last used ('natural' when none was)."""
    return take.steps[-1].kind.value if take.steps else "natural"


def _fit_entry(take: Placement, chosen: int) -> FitEntry:
    return FitEntry(
        steps=[step.label for step in take.steps],
        final_step=_final_step(take),
        tempo=take.tempo,
        borrowed_ms=take.borrowed_ms,
        candidate=chosen,
        flagged=not take.fits,
    )


def _segment_target(render: RenderedLine) -> SegmentTarget:
    take, translated = render.placement, render.translated
    return SegmentTarget(
        text=translated.text,
        is_dubbed=translated.is_dubbed,
        note=translated.note,
        candidate=translated.chosen,
        candidates=len(translated.alternatives) or 1,
        dubbed_start_ms=take.start_ms if take else None,
        dubbed_end_ms=take.end_ms if take else None,
        slot_ms=take.slot_ms if take else None,
        natural_ms=take.natural_ms if take else None,
        tempo=take.tempo if take else None,
        tts_speed=take.tts_speed_permille / 1000 if take else None,
        outcome=take.outcome.value if take else "kept_original",
        fits=take.fits if take else True,
        fit=_fit_entry(take, translated.chosen) if take else None,
    )


def segment_entries(lines: Sequence[Line], results: Sequence[LanguageResult]) -> list[SegmentEntry]:
    return [
        SegmentEntry(
            id=line.id,
            speaker=line.speaker_id,
            start_ms=line.start_ms,
            end_ms=line.end_ms,
            source_language=line.language,
            source_text=line.text,
            targets={r.language: _segment_target(r.rendered[index]) for r in results},
        )
        for index, line in enumerate(lines)
    ]


def _percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def fit_summary(takes: Sequence[Placement]) -> FitSummary:
    """A language's fitting-chain outcome: lines by final step, the share placed at or under
    the comfortable tempo and within the cap (not flagged), the tempo distribution (nearest-
    rank percentiles) and the silence borrowed."""
    tempos = [t.tempo for t in takes]
    used = Counter(step.kind.value for t in takes for step in t.steps)
    comfortable = sum(t <= COMFORTABLE_TEMPO for t in tempos)
    return FitSummary(
        final_steps=dict(sorted(Counter(_final_step(t) for t in takes).items())),
        steps_used=dict(sorted(used.items())),
        share_tempo_le_1_15=round(comfortable / len(tempos), 4) if tempos else None,
        share_within_cap=round(sum(t.fits for t in takes) / len(takes), 4) if takes else None,
        tempo_percentiles={
            f"p{p}": _percentile(tempos, p / 100) for p in (10, 25, 50, 75, 90, 95, 100)
        },
        borrowed_ms_total=sum(t.borrowed_ms for t in takes),
        retranslated=used.get("retranslate", 0),
    )


def language_summary(result: LanguageResult) -> LanguageSummary:
    takes = [r.placement for r in result.rendered if r.placement is not None]
    loudness = result.loudness
    return LanguageSummary(
        route=result.route,
        lines=len(result.rendered),
        dubbed=len(takes),
        fits=sum(t.fits for t in takes),
        flagged=[t.line_id for t in takes if not t.fits],
        max_tempo=max((t.tempo for t in takes), default=1.0),
        fit=fit_summary(takes),
        loudness_lufs=round(loudness.integrated_lufs, 2) if loudness else None,
        true_peak_dbtp=round(loudness.true_peak_dbtp, 2) if loudness else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerFacts:
    """What the analysis knows of the speakers: their voices, lines, turns, library voices."""

    voices: Mapping[str, SpeakerVoice]
    lines: Sequence[Line]
    diarization: Diarization | None
    library: Mapping[str, LibraryVoice]


def _speaker_entry(speaker: str, facts: SpeakerFacts) -> SpeakerEntry:
    voice = facts.voices.get(speaker)
    known = facts.library.get(speaker)
    turns = facts.diarization.turns_of(speaker) if facts.diarization is not None else None
    return SpeakerEntry(
        speaker_id=speaker,
        median_f0_hz=voice.median_f0_hz if voice else None,
        formant_dispersion_hz=voice.formant_dispersion_hz if voice else None,
        is_female=voice.is_female if voice else None,
        voice=voice.synthesis_voice if voice else None,
        voice_profile=voice.profile.summary() if voice and voice.profile else None,
        library_voice=LibraryVoiceEntry(**asdict(known)) if known is not None else None,
        lines=[line.id for line in facts.lines if line.speaker_id == speaker],
        speech_ms=sum(t.duration_ms for t in turns) if turns is not None else None,
        turns=[(t.start_ms, t.end_ms) for t in turns] if turns is not None else None,
    )


def speaker_entries(facts: SpeakerFacts) -> list[SpeakerEntry]:
    """Each speaker: the voice their lines were synthesized with and its profile (blend, DSP,
    reference spans; never the embedding), their library voice (id, name, and how it was
    chosen: assigned, matched with its cosine, or new; null without a library), their turns,
    speech time and line ids."""
    found = facts.diarization.speaker_ids if facts.diarization is not None else ()
    return [_speaker_entry(s, facts) for s in dict.fromkeys([*found, *facts.voices])]


def diarization_entry(diarization: Diarization | None) -> DiarizationEntry | None:
    if diarization is None:
        return None
    return DiarizationEntry(
        estimated_count=diarization.estimated_count,
        requested_count=diarization.requested_count,
        embedder=diarization.embedder,
    )


def overlap_entries(diarization: Diarization | None) -> list[OverlapEntry]:
    if diarization is None:
        return []
    return [
        OverlapEntry(start_ms=o.start_ms, end_ms=o.end_ms, speaker_ids=list(o.speaker_ids))
        for o in diarization.overlaps
    ]
