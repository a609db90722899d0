"""Separate: the source's soundtrack as dialogue and background (music and effects) stems.

The engine's split is used only where someone speaks (the analysed lines, held and ramped);
everywhere else the background is the source itself and the dialogue silent. So the music
between lines is untouched, and a line kept in its own language is put back whole
(background + dialogue = the source). Blocks stream from ffmpeg through the engine to disk:
memory stays flat in the length of the video. Stems keep the source's rate and channels
(more than two are mixed down to stereo).
"""

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, TypeAdapter

from globalvoice.domain.media import MediaInfo
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.engines.separation.protocol import Separator, Stems
from globalvoice.media.envelope import DIALOGUE_GATE, span_presence
from globalvoice.media.ffmpeg import input_arg, run_ffmpeg
from globalvoice.media.pcm import stream_audio
from globalvoice.pipeline import keys
from globalvoice.storage.cache import ArtifactCache

__all__ = ["SeparationFigures", "SeparationJob", "StemPaths", "separate_source"]
_BLOCK_S = 2


class SeparationFigures(BaseModel):
    """What the split cost and found: the manifest's separation record."""

    engine: str
    model: str
    licence: str
    rate_hz: int
    channels: int
    audio_s: float
    cpu_s: float
    dialogue_s: float  # time inside the dialogue gate
    # inside the gate, relative to the source there: what the dialogue and background hold
    dialogue_share_db: float
    background_share_db: float

    @property
    def cpu_s_per_audio_s(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s else 0.0


_FIGURES = TypeAdapter(SeparationFigures)


@dataclass(frozen=True, slots=True, kw_only=True)
class StemPaths:
    """Where the stems go (FLAC)."""

    dialogue: Path
    background: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class SeparationJob:
    """One source to split: the file, what its probe said, its digest and the dialogue spans."""

    source: Path
    info: MediaInfo
    digest: str
    spans_ms: Sequence[tuple[int, int]]


def separate_source(
    job: SeparationJob,
    separator: Separator,
    out: StemPaths,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
) -> SeparationFigures:
    """Write the stems to `out` (from the cache when this source was split the same way)."""
    key = keys.separation_key(job.digest, separator.info.fingerprint, job.spans_ms)
    cached = cache.get_model(key, _FIGURES)
    if (
        cached is not None
        and cache.get_file(key, ".dialogue.flac", out.dialogue)
        and cache.get_file(key, ".background.flac", out.background)
    ):
        return cached
    figures = _separate(job, separator, out, progress)
    cache.put_file(key, ".dialogue.flac", out.dialogue)
    cache.put_file(key, ".background.flac", out.background)
    cache.put_model(key, figures, _FIGURES)  # last: the entry is whole once this is there
    return figures


class _Tally:
    """Energies inside the dialogue gate, for the figures."""

    def __init__(self) -> None:
        self.mix = 0.0
        self.dialogue = 0.0
        self.background = 0.0
        self.gated_frames = 0.0

    def add(self, stems: Stems, presence: npt.NDArray[np.float32]) -> None:
        weight = presence[:, None]
        self.mix += float(np.sum(((stems.dialogue + stems.background) * weight) ** 2))
        self.dialogue += float(np.sum((stems.dialogue * weight) ** 2))
        self.background += float(np.sum((stems.background * weight) ** 2))
        self.gated_frames += float(presence.sum())

    def share_db(self, energy: float) -> float:
        return round(float(10 * np.log10((energy + 1e-12) / (self.mix + 1e-12))), 2)


class _StemSink:
    """Gates each block of stems to the dialogue spans, writes and tallies it."""

    def __init__(self, job: SeparationJob, rate_hz: int, work: Path, channels: int) -> None:
        import soundfile

        self._spans = job.spans_ms
        self._rate = rate_hz
        self.tally = _Tally()
        self.position = 0
        self.paths = {name: work / f"{name}.wav" for name in ("dialogue", "background")}
        self._writers = {
            name: soundfile.SoundFile(
                str(path), "w", samplerate=rate_hz, channels=channels, subtype="FLOAT"
            )
            for name, path in self.paths.items()
        }

    def write(self, stems: Stems) -> None:
        frames = len(stems)
        if not frames:
            return
        presence = span_presence(
            self.position, frames, self._spans, rate_hz=self._rate, shape=DIALOGUE_GATE
        )
        dialogue = stems.dialogue * presence[:, None]
        gated = Stems(dialogue=dialogue, background=stems.background + (stems.dialogue - dialogue))
        self.tally.add(gated, presence)
        self._writers["dialogue"].write(gated.dialogue)
        self._writers["background"].write(gated.background)
        self.position += frames

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def _separate(
    job: SeparationJob, separator: Separator, out: StemPaths, progress: ProgressSink
) -> SeparationFigures:
    info = job.info
    channels = max(1, min(info.audio_channels, 2))
    rate = separator.rate_hz
    total = max(1, -(-info.duration_ms // 1000))
    stream = separator.stream(channels)
    started = time.process_time()
    with tempfile.TemporaryDirectory(dir=out.background.parent, prefix=".separate-") as work:
        sink = _StemSink(job, rate, Path(work), channels)
        try:
            blocks = stream_audio(
                job.source,
                rate_hz=rate,
                channels=channels,
                block_frames=rate * _BLOCK_S,
                demuxer=info.container,
            )
            for done, block in enumerate(blocks, start=1):
                sink.write(stream.push(block))
                seconds = min(done * _BLOCK_S, total)
                progress(StageProgress(stage="separate", done=seconds, total=total))
            sink.write(stream.finish())
        finally:
            sink.close()
        cpu_s = time.process_time() - started
        _encode_flac(sink.paths["dialogue"], out.dialogue, rate_hz=info.audio_rate_hz)
        _encode_flac(sink.paths["background"], out.background, rate_hz=info.audio_rate_hz)
    tally = sink.tally
    return SeparationFigures(
        engine=separator.info.name,
        model=separator.info.model_id,
        licence=separator.info.licence,
        rate_hz=info.audio_rate_hz,
        channels=channels,
        audio_s=round(sink.position / rate, 3),
        cpu_s=round(cpu_s, 3),
        dialogue_s=round(tally.gated_frames / rate, 3),
        dialogue_share_db=tally.share_db(tally.dialogue),
        background_share_db=tally.share_db(tally.background),
    )


def _encode_flac(wav: Path, flac: Path, *, rate_hz: int) -> None:
    run_ffmpeg(
        [
            "-i",
            input_arg(wav),
            "-ar",
            str(rate_hz),
            "-c:a",
            "flac",
            "-sample_fmt",
            "s32",
            input_arg(flac),
        ],
        what="encode a separated stem",
    )
