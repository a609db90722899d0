"""Calibrates the voice library's match threshold for the voicefilter d-vector on LibriSpeech.

Five readers x ten utterances (shared/media/speech/librispeech). Each utterance is embedded from
its VAD speech; a speaker-level embedding is the mean of k utterances (k = 1, 2, 3, 5; about 6 s
of speech per utterance). Genuine pairs: two disjoint groups of one reader; impostor pairs: a
group of each of two readers (every group pair). The rule: the configured threshold
(`Settings().speaker.match_threshold`) is the highest impostor cosine of any speaker-level pair
(k >= 2) plus a safety margin of 0.10, to the nearest 0.05. The margin leans towards false
rejects: a false accept gives one person another's voice, a false reject only makes a duplicate
voice that a user can merge; and five readers are a small impostor population.

Result (pytest -s prints the table): highest impostor 0.653 (k = 3), so 0.75. At 0.75: FAR 0
for every k (1,000 to 635,040 impostor pairs); FRR 0 for k >= 2 (lowest genuine 0.778 at k = 2),
8.4 % for single utterances (lowest 0.582).
"""

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from globalvoice.config.settings import Settings
from globalvoice.engines import registry
from globalvoice.media.pcm import decode_audio
from tests.voiceprints import librispeech, speaker_vector

pytestmark = pytest.mark.slow
report = print
READERS = ("1688", "1998", "2033", "2414", "3331")
GROUP_SIZES = (1, 2, 3, 5)
MARGIN = 0.10


@pytest.fixture(scope="module")
def utterance_vectors(media: Path) -> dict[str, npt.NDArray[np.float32]]:
    """reader -> (10, 256) unit vectors, one per utterance."""
    settings = Settings()
    embedder, vad = registry.build_speaker(settings), registry.build_vad(settings)
    out = {}
    for reader in READERS:
        rows = []
        for path in librispeech(media, reader):
            audio = decode_audio(path, rate_hz=16_000)
            spans = [(s.start_ms, s.end_ms) for s in vad.detect(audio)]
            rows.append(speaker_vector(embedder, audio, spans))
        out[reader] = np.stack(rows)
    return out


def groups(vectors: npt.NDArray[np.float32], k: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Every k-subset of the utterances and its mean vector, re-normalised."""
    subsets = list(itertools.combinations(range(len(vectors)), k))
    means = np.stack([vectors[list(s)].mean(axis=0) for s in subsets])
    return subsets, means / np.linalg.norm(means, axis=1, keepdims=True)


def scores(
    vectors: dict[str, npt.NDArray[np.float32]], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Genuine (disjoint groups of one reader) and impostor (two readers) cosines."""
    genuine, impostor = [], []
    grouped = {reader: groups(v, k) for reader, v in vectors.items()}
    for subsets, means in grouped.values():
        similarity = means @ means.T
        for i, j in itertools.combinations(range(len(subsets)), 2):
            if not set(subsets[i]) & set(subsets[j]):
                genuine.append(similarity[i, j])
    for first, second in itertools.combinations(READERS, 2):
        impostor += list((grouped[first][1] @ grouped[second][1].T).ravel())
    return np.array(genuine, dtype=np.float64), np.array(impostor, dtype=np.float64)


def test_threshold_separates_speakers(
    utterance_vectors: dict[str, npt.NDArray[np.float32]],
) -> None:
    threshold = Settings().speaker.match_threshold
    table = {k: scores(utterance_vectors, k) for k in GROUP_SIZES}
    report(f"\nvoice match threshold {threshold:.2f} (voicefilter d-vector, LibriSpeech 5x10)")
    report(" k  genuine  impostor  min gen  max imp    FRR      FAR")
    for k, (genuine, impostor) in table.items():
        frr, far = float((genuine < threshold).mean()), float((impostor >= threshold).mean())
        report(
            f"{k:2d} {len(genuine):8d} {len(impostor):9d} {genuine.min():8.3f} "
            f"{impostor.max():8.3f} {frr:8.4f} {far:8.4f}"
        )
    for candidate in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
        cells = [
            f"k={k}: FRR {(g < candidate).mean():.3f} FAR {(i >= candidate).mean():.4f}"
            for k, (g, i) in table.items()
        ]
        report(f"  at {candidate:.2f}: " + "; ".join(cells))

    highest_impostor = max(float(table[k][1].max()) for k in GROUP_SIZES if k >= 2)
    chosen = round((highest_impostor + MARGIN) / 0.05) * 0.05
    report(f"highest impostor (k>=2) {highest_impostor:.3f} -> rule gives {chosen:.2f}")
    assert threshold == pytest.approx(chosen, abs=1e-9)
    for k, (genuine, impostor) in table.items():
        assert (impostor >= threshold).mean() == 0.0, k  # no false accept at all
        if k >= 2:
            assert (genuine < threshold).mean() <= 0.01, k
    assert (table[1][0] < threshold).mean() <= 0.15  # one utterance (~6 s) is often enough
