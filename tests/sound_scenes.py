"""Speech over real music at a known ratio, with the true stems kept for scoring."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from globalvoice.media.pcm import stream_audio

Audio = npt.NDArray[np.float64]
SCENE_RATE_HZ = 44_100  # not the engine's 48 kHz: the stems must come back at the source's rate
LEAD_S = 1.0  # music alone before and after the speech


@dataclass(frozen=True)
class Scene:
    path: Path  # the mix, 44.1 kHz stereo float WAV
    speech: Audio  # (frames,) the true speech as mixed (centred: the same in both channels)
    music: Audio  # (frames, 2) the true music as mixed
    speech_span_ms: tuple[int, int]


def load(path: Path, *, rate_hz: int = SCENE_RATE_HZ, channels: int = 2) -> Audio:
    blocks = stream_audio(path, rate_hz=rate_hz, channels=channels, block_frames=rate_hz)
    return np.concatenate(list(blocks)).astype(np.float64)


def rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def build_scene(speech_file: Path, music_file: Path, out: Path, *, ratio_db: float) -> Scene:
    """`speech_file` centred over `music_file` (tiled to length), the speech's RMS `ratio_db`
    above the music's, both scaled together to peak at 0.5."""
    lead = np.zeros(int(LEAD_S * SCENE_RATE_HZ))
    voice = load(speech_file, channels=1)[:, 0]
    speech = np.concatenate([lead, voice, lead])
    music = load(music_file)
    music = np.tile(music, (len(speech) // len(music) + 1, 1))[: len(speech)]
    speech = speech / rms(voice) * rms(music) * 10 ** (ratio_db / 20)
    mix = music + speech[:, None]
    scale = 0.5 / float(np.abs(mix).max())
    soundfile.write(str(out), mix * scale, SCENE_RATE_HZ, subtype="FLOAT")
    span = (int(LEAD_S * 1000), int((len(speech) / SCENE_RATE_HZ - LEAD_S) * 1000))
    return Scene(path=out, speech=speech * scale, music=music * scale, speech_span_ms=span)


def sdr_db(reference: Audio, estimate: Audio) -> float:
    error = reference - estimate
    return float(10 * np.log10(np.sum(np.square(reference)) / np.sum(np.square(error))))


def fit_db(estimate: Audio, parts: list[Audio]) -> list[float]:
    """Least-squares gains (dB) of `parts` in `estimate` (all mono, one length)."""
    gains, *_ = np.linalg.lstsq(np.stack(parts, axis=1), estimate, rcond=None)
    return [float(20 * np.log10(abs(g) + 1e-12)) for g in gains]
