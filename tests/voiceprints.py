"""Speaker-level embeddings for the voice-library tests: one unit vector from many spans.

A speaker's vector is the duration-weighted mean of the embedder's vectors of their spans (each
span's own vector is already the mean over the model's windows), re-normalised; the audio is
first brought to -20 dBFS RMS over the speech, as the diarization stage does.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.domain.audio import Pcm
from globalvoice.engines.speaker.protocol import SpeakerEmbedder

__all__ = ["leveled", "librispeech", "speaker_vector"]


def librispeech(media: Path, reader: str) -> list[Path]:
    """The reader's ten utterances, in order (0-9)."""
    return sorted((media / "speech" / "librispeech").glob(f"{reader}-*.flac"))


def leveled(audio: Pcm, spans_ms: Sequence[tuple[int, int]]) -> Pcm:
    voiced = np.concatenate([audio.slice_ms(s, e).samples for s, e in spans_ms] or [audio.samples])
    rms = float(np.sqrt(np.mean(voiced.astype(np.float64) ** 2))) if len(voiced) else 0.0
    if rms <= 1e-6:
        return audio
    gain = min(0.1 / rms, 1000.0)
    return Pcm(samples=(audio.samples * gain).astype(np.float32), rate_hz=audio.rate_hz)


def speaker_vector(
    embedder: SpeakerEmbedder, audio: Pcm, spans_ms: Sequence[tuple[int, int]]
) -> npt.NDArray[np.float32]:
    """One unit vector for all of `spans_ms` (a speaker's turns), weighted by their length."""
    spans = [(s, e) for s, e in spans_ms if e > s]
    vectors = embedder.embed_spans(leveled(audio, spans), spans)
    weights = np.array([e - s for s, e in spans], dtype=np.float64)
    mean = (vectors * weights[:, None]).sum(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)
