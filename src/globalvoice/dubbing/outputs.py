"""A target's media: the dubbed speech mixed over the source, loudness-normalised, encoded,
muxed with the video, and its subtitles (or the source unchanged when there is no speech)."""

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from globalvoice.dubbing.steps import SourceAnalysis, StepRun
from globalvoice.media.loudness import LoudnessReading
from globalvoice.pipeline.output import assemble, mix
from globalvoice.pipeline.render.synthesize import RenderedLine
from globalvoice.pipeline.separate.stems import StemPaths

__all__ = [
    "TargetOutputs",
    "TargetPlace",
    "TargetSources",
    "finish_target",
    "passthrough_target",
    "source_cues",
    "write_subtitles",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetOutputs:
    """Files written by finish_target, by artifact kind, relative to its output directory."""

    language: str
    files: dict[str, str]
    loudness: LoudnessReading | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSources:
    """The files a target's outputs are made from: the source media, the dubbed speech, the
    source's separated stems (None: the source is ducked under the dub instead) and the
    lip-synced picture (None: the source's)."""

    input_path: Path
    speech_track: Path
    stems: StemPaths | None = None
    redrawn_video: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetPlace:
    """Where a target's outputs go: `<out_dir>/<stem>.<target>.*`."""

    out_dir: Path
    stem: str
    target: str


def finish_target(
    sources: TargetSources,
    analysis: SourceAnalysis,
    rendered: Sequence[RenderedLine],
    out: TargetPlace,
    run: StepRun,
) -> TargetOutputs:
    """Mix over the background (or the ducked source), normalise the dialogue's loudness to
    the target, encode, mux and write subtitles.

    Outputs in `out.out_dir`: <stem>.<target> + ".m4a", ".speech.flac", ".mp4" (with video),
    ".srt", ".vtt".
    """
    input_path, speech_track = sources.input_path, sources.speech_track
    out_dir, stem, target = out.out_dir, out.stem, out.target
    settings, clock = run.settings, run.clock
    base = out_dir / f"{stem}.{target}"
    info = analysis.info
    placements = [r.placement for r in rendered if r.placement is not None]
    files: dict[str, str] = {}
    with clock.stage("mix", target):
        mix_wav = base.parent / f".mix.{base.name}.wav"
        stems = sources.stems
        mix_sources = mix.MixSources(
            source=input_path,
            info=info,
            dub_track=speech_track,
            background=stems.background if stems else None,
            dialogue=stems.dialogue if stems else None,
        )
        plan = mix.MixPlan(
            dub_spans_ms=[(p.start_ms, p.end_ms) for p in placements],
            kept_spans_ms=[
                (r.translated.line.start_ms, r.translated.line.end_ms)
                for r in rendered
                if r.placement is None
            ],
            duck_db=settings.duck_db,
            bed_dip_db=settings.bed_dip_db,
        )
        readings = mix.mix_tracks(mix_sources, mix_wav, plan)
    with clock.stage("loudness_encode", target):
        reading = readings.mix
        level = (readings.dialogue or readings.mix).integrated_lufs
        gain = settings.loudness_lufs - level
        audio_out = _with(base, ".m4a")
        assemble.encode_audio(
            mix_wav,
            audio_out,
            gain_db=gain,
            true_peak_dbtp=settings.true_peak_dbtp,
            needs_limiter=reading.true_peak_dbtp + gain > settings.true_peak_dbtp,
        )
        mix_wav.unlink()
        measured = assemble.measure_loudness(audio_out)
        speech_out = _with(base, ".speech.flac")
        assemble.encode_speech_stem(speech_track, speech_out)
    files["audio"] = audio_out.name
    files["speech_stem"] = speech_out.name
    if info.has_video:
        with clock.stage("mux", target):
            video_out = _with(base, ".mp4")
            assemble.mux_video(input_path, info, audio_out, video_out, sources.redrawn_video)
        files["video"] = video_out.name
    cues = [
        (r.placement.start_ms, r.placement.end_ms, r.translated.text)
        if r.placement is not None
        else (r.translated.line.start_ms, r.translated.line.end_ms, r.translated.text)
        for r in rendered
    ]
    files.update(write_subtitles(cues, base))
    return TargetOutputs(language=target, files=files, loudness=measured)


def passthrough_target(
    input_path: Path, analysis: SourceAnalysis, out: TargetPlace
) -> TargetOutputs:
    """No speech to dub: the source unchanged, with empty subtitles."""
    copy = out.out_dir / f"{out.stem}.{out.target}{input_path.suffix.lower()}"
    shutil.copyfile(input_path, copy)
    files = {"video" if analysis.info.has_video else "audio": copy.name}
    files.update(write_subtitles([], out.out_dir / f"{out.stem}.{out.target}"))
    return TargetOutputs(language=out.target, files=files, loudness=None)


def write_subtitles(cues: Sequence[tuple[int, int, str]], base: Path) -> dict[str, str]:
    srt, vtt = assemble.write_subtitles(cues, base)
    return {"subtitles_srt": srt.name, "subtitles_vtt": vtt.name}


def source_cues(analysis: SourceAnalysis) -> list[tuple[int, int, str]]:
    return [(ln.start_ms, ln.end_ms, ln.text) for ln in analysis.lines]


def _with(base: Path, suffix: str) -> Path:
    """`base` + `suffix` ("clip.es" + ".mp4"); Path.with_suffix would replace the ".es"."""
    return base.parent / f"{base.name}{suffix}"
