"""Mix: the dubbed lines over the source's background (its separated music and effects, dipped
a little under dubbed speech), or over the whole source ducked under the dub when it was not
separated. Lines kept in the source language keep their original dialogue.

Everything streams in blocks, so memory does not grow with the length of the video.
"""

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from globalvoice.domain.media import MediaInfo
from globalvoice.domain.render import FittedTake
from globalvoice.media.envelope import DIALOGUE_GATE, SpanShape, gain_under, span_presence
from globalvoice.media.loudness import LoudnessMeter, LoudnessReading
from globalvoice.media.pcm import stream_audio

__all__ = [
    "DEFAULT_DUB_RATE_HZ",
    "MIX_RATE_HZ",
    "DubTrackWriter",
    "MixPlan",
    "MixReading",
    "MixSources",
    "duck_envelope",
    "mix_tracks",
]

MIX_RATE_HZ = 48_000
_BLOCK_FRAMES = MIX_RATE_HZ * 2
DEFAULT_DUB_RATE_HZ = 24_000  # a track with no take at all: any rate will do
_SAMPLE_BYTES = 4  # float32
_DUCK = SpanShape(ramp_ms=120, hold_ms=100)  # the dub's ducking or dip


class DubTrackWriter:
    """The dubbed speech track, built on disk one take at a time.

    Takes arrive in any order and are summed where they overlap (a flagged line may run into
    the next one); only the take being added is in memory. They collect in a scratch file of
    raw float samples next to `path`; `finish` writes the float WAV at `path`, as long as the
    media or longer (a take running past the end is never cut). Use as a context manager: the
    scratch file goes on exit, whatever happened."""

    def __init__(self, path: Path, *, rate_hz: int | None = None) -> None:
        self.path = path
        self.rate_hz = rate_hz  # None: the first take's
        self._scratch = path.parent / f".{path.name}.f32"
        self._handle: BinaryIO | None = None
        self._frames = 0

    def __enter__(self) -> "DubTrackWriter":
        self._handle = self._scratch.open("w+b")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._scratch.unlink(missing_ok=True)

    def _open(self) -> BinaryIO:
        if self._handle is None:
            raise RuntimeError("DubTrackWriter is used as a context manager")
        return self._handle

    def add(self, take: FittedTake) -> None:
        handle = self._open()
        if self.rate_hz is None:
            self.rate_hz = take.audio.rate_hz
        elif take.audio.rate_hz != self.rate_hz:
            raise ValueError("all takes must share the dub track's rate")
        start = take.start_ms * self.rate_hz // 1000
        samples = np.array(take.audio.samples, dtype=np.float32)  # a copy: summed in place
        handle.seek(start * _SAMPLE_BYTES)
        under = np.frombuffer(handle.read(len(samples) * _SAMPLE_BYTES), dtype=np.float32)
        samples[: len(under)] += under  # reads past the end come back short: nothing there
        handle.seek(start * _SAMPLE_BYTES)
        handle.write(samples.tobytes())  # past the end, the file grows (a gap reads as zeros)
        self._frames = max(self._frames, start + len(samples))

    def finish(self, *, duration_ms: int) -> None:
        import soundfile

        handle = self._open()
        rate = self.rate_hz or DEFAULT_DUB_RATE_HZ
        total = max(duration_ms * rate // 1000, self._frames)
        handle.seek(0)
        with soundfile.SoundFile(
            str(self.path), "w", samplerate=rate, channels=1, subtype="FLOAT"
        ) as out:
            written = 0
            while written < total:
                count = min(_BLOCK_FRAMES, total - written)
                block = np.frombuffer(handle.read(count * _SAMPLE_BYTES), dtype=np.float32)
                out.write(np.concatenate([block, np.zeros(count - len(block), np.float32)]))
                written += count


def duck_envelope(
    first_frame: int, frames: int, spans_ms: Sequence[tuple[int, int]], *, duck_db: float
) -> npt.NDArray[np.float32]:
    """Gain per frame: `duck_db` under dubbed speech, ramped in and out, 1 elsewhere."""
    presence = span_presence(first_frame, frames, spans_ms, rate_hz=MIX_RATE_HZ, shape=_DUCK)
    return gain_under(presence, duck_db)


@dataclass(frozen=True, slots=True, kw_only=True)
class MixSources:
    """What a target's soundtrack is mixed from: the source, the dubbed speech and, when the
    source was separated, its background and dialogue stems (None: duck the source)."""

    source: Path
    info: MediaInfo
    dub_track: Path
    background: Path | None = None
    dialogue: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MixPlan:
    """Where the dub speaks, which lines keep their original voice, and the gains: the
    background dips `bed_dip_db` under dubbed speech (separated), or the whole source is
    ducked `duck_db` (not separated)."""

    dub_spans_ms: Sequence[tuple[int, int]]
    kept_spans_ms: Sequence[tuple[int, int]] = ()
    duck_db: float = -14.0
    bed_dip_db: float = -3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MixReading:
    """The mix's loudness, and its loudness where dialogue plays (dubbed or kept lines; None
    when no line plays): the level a dub is normalised by."""

    mix: LoudnessReading
    dialogue: LoudnessReading | None


Block = npt.NDArray[np.float32]


def _bed(sources: MixSources) -> Iterator[tuple[Block, Block | None]]:
    """Blocks of the background and the dialogue stem, or of the source and None when it was
    not separated, (frames, 2) each."""

    def stream(path: Path, demuxer: str | None = None) -> Iterator[Block]:
        return stream_audio(
            path, rate_hz=MIX_RATE_HZ, channels=2, block_frames=_BLOCK_FRAMES, demuxer=demuxer
        )

    if sources.background is None or sources.dialogue is None:
        for block in stream(sources.source, sources.info.container):
            yield block, None
        return
    for background, dialogue in itertools.zip_longest(
        stream(sources.background), stream(sources.dialogue), fillvalue=None
    ):
        if background is None or dialogue is None:
            raise ValueError("the background and dialogue stems differ in length")
        yield background, dialogue


def mix_tracks(sources: MixSources, out_path: Path, plan: MixPlan) -> MixReading:
    """Write the dub over the source as 48 kHz stereo float WAV; return its loudness.

    Separated: background (dipped under the dub) + dialogue of kept lines + dub. Otherwise:
    the source, ducked under the dub, + dub."""
    import soundfile

    meter = LoudnessMeter(MIX_RATE_HZ, 2)
    dialogue_meter = LoudnessMeter(MIX_RATE_HZ, 2)
    dub = stream_audio(
        sources.dub_track, rate_hz=MIX_RATE_HZ, channels=1, block_frames=_BLOCK_FRAMES
    )
    position = 0
    rest = np.zeros((0, 1), dtype=np.float32)
    heard = False
    with soundfile.SoundFile(
        str(out_path), "w", samplerate=MIX_RATE_HZ, channels=2, subtype="FLOAT"
    ) as out:
        for bed_block, dialogue_block in _bed(sources):
            dub_block = next(dub, np.zeros((0, 1), dtype=np.float32))
            frames = len(bed_block)
            voice = np.zeros((frames, 1), dtype=np.float32)
            voice[: min(frames, len(dub_block))] = dub_block[:frames]
            rest = dub_block[frames:]  # the source's last block is short; the dub's may not be
            bed = _Bed(sound=bed_block, dialogue=dialogue_block, position=position)
            mixed, speaking = _mix_block(bed, voice, plan)
            out.write(mixed)
            meter.add(mixed)
            if speaking.any():
                heard = True
                dialogue_meter.add(mixed[speaking])
            position += frames
        # A flagged last line may run past the source: never cut it.
        for dub_block in itertools.chain((rest,), dub):
            if not len(dub_block):
                continue
            mixed = np.repeat(dub_block, 2, axis=1)
            out.write(mixed)
            meter.add(mixed)
            dialogue_meter.add(mixed)
            heard = True
    return MixReading(mix=meter.reading(), dialogue=dialogue_meter.reading() if heard else None)


@dataclass(frozen=True, slots=True)
class _Bed:
    """A block of what the dub is mixed over, from frame `position` on: the background (or the
    whole source) and, when separated, the source's dialogue."""

    sound: Block
    dialogue: Block | None
    position: int


def _mix_block(bed: _Bed, voice: Block, plan: MixPlan) -> tuple[Block, npt.NDArray[np.bool_]]:
    """One block of the mix, and which of its frames carry dialogue."""
    frames, position = len(bed.sound), bed.position
    dubbed = span_presence(position, frames, plan.dub_spans_ms, rate_hz=MIX_RATE_HZ, shape=_DUCK)
    kept = span_presence(
        position, frames, plan.kept_spans_ms, rate_hz=MIX_RATE_HZ, shape=DIALOGUE_GATE
    )
    speaking = (dubbed >= 0.5) | (kept >= 0.5)
    if bed.dialogue is None:
        return bed.sound * gain_under(dubbed, plan.duck_db)[:, None] + voice, speaking
    dipped = bed.sound * gain_under(dubbed, plan.bed_dip_db)[:, None]
    return (dipped + bed.dialogue * kept[:, None] + voice).astype(np.float32), speaking
