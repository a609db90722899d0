"""Speaker clustering policy, model-free: group window embeddings, then smooth a label path.

Pure numpy/scipy on L2-normalised embeddings (cosine similarity = dot product), so every rule here
is tested with hand-made vectors.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ClusterPolicy", "centroids", "cluster", "smooth_path"]

Vectors = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPolicy:
    """Thresholds for an estimated speaker count (calibration: see pipeline/diarize.py).

    link_similarity: agglomerative clustering (average linkage) stops merging below this mean
        cosine between two groups of windows.
    merge_similarity: two clusters whose centroids are this close are one speaker.
    min_share: with an estimated count, a cluster with less than this share of the windows is
        not a speaker of its own; its windows go to the nearest remaining cluster.
    min_windows: ... nor is one with fewer windows than this.
    mix_similarity: a cluster smaller than two others whose centroid is this close to the
        normalised sum of theirs (and clearly closer than to either alone) is their overlapping
        speech, not a third speaker: its windows go to the nearer of the two.
    """

    link_similarity: float = 0.55
    merge_similarity: float = 0.7
    min_share: float = 0.05
    min_windows: int = 3
    mix_similarity: float = 0.85


def centroids(vectors: Vectors, labels: Labels, count: int) -> Vectors:
    """(count, dim) normalised mean of each label's vectors (zeros for an empty label)."""
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    normalised: Vectors = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


def _compact(labels: Labels) -> Labels:
    """Renumber labels 0..k-1 in order of first appearance."""
    order = {int(v): i for i, v in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[int(v)] for v in labels], dtype=np.int64)


def _agglomerate(vectors: Vectors, count: int | None, policy: ClusterPolicy) -> Labels:
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
    if count is not None:
        found = fcluster(tree, t=count, criterion="maxclust")
    else:
        found = fcluster(tree, t=1.0 - policy.link_similarity, criterion="distance")
    return _compact(np.asarray(found, dtype=np.int64))


def _mixture_of_two(centres: Vectors, sizes: npt.NDArray[np.int64], policy: ClusterPolicy) -> int:
    """The smallest cluster that looks like two larger clusters speaking at once, or -1."""
    for mixed in np.argsort(sizes):
        bigger = [c for c in range(len(centres)) if sizes[c] > sizes[mixed]]
        for i, first in enumerate(bigger):
            for second in bigger[i + 1 :]:
                pair = centres[first] + centres[second]
                mix = float(centres[mixed] @ pair) / max(float(np.linalg.norm(pair)), 1e-12)
                alone = max(float(centres[mixed] @ centres[c]) for c in (first, second))
                if mix >= policy.mix_similarity and mix >= alone + 0.1:
                    return int(mixed)
    return -1


def _move(vectors: Vectors, labels: Labels, dropped: int) -> Labels:
    """Give the windows of cluster `dropped` to the nearest other cluster."""
    count = int(labels.max()) + 1
    keep = np.array([c for c in range(count) if c != dropped])
    centres = centroids(vectors, labels, count)[keep]
    moved = labels.copy()
    members = labels == dropped
    moved[members] = keep[np.argmax(vectors[members] @ centres.T, axis=1)]
    return _compact(moved)


def _prune(vectors: Vectors, labels: Labels, policy: ClusterPolicy) -> Labels | None:
    """One pruning step for an estimated count, or None when nothing is left to prune."""
    count = int(labels.max()) + 1
    if count < 2:
        return None
    sizes = np.bincount(labels, minlength=count)
    floor = max(policy.min_windows, policy.min_share * len(labels))
    small = [c for c in np.argsort(sizes) if sizes[c] < floor]
    if small and len(small) < count:
        return _move(vectors, labels, int(small[0]))
    centres = centroids(vectors, labels, count)
    similarity = centres @ centres.T
    np.fill_diagonal(similarity, -1.0)
    first, second = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    if similarity[first, second] >= policy.merge_similarity:
        merged = labels.copy()
        merged[merged == second] = first
        return _compact(merged)
    mixed = _mixture_of_two(centres, sizes, policy)
    return None if mixed < 0 else _move(vectors, labels, mixed)


def cluster(vectors: Vectors, *, count: int | None, policy: ClusterPolicy) -> Labels:
    """A speaker label (0..k-1, by first appearance) per row of `vectors`.

    `count` given: exactly min(count, rows) clusters. None: agglomerative clustering stopped at
    `policy.link_similarity`, then small clusters are dissolved and near-identical ones merged,
    then a few nearest-centroid passes settle the borders.
    """
    rows = len(vectors)
    if rows == 0:
        return np.zeros(0, dtype=np.int64)
    if rows == 1 or count == 1:
        return np.zeros(rows, dtype=np.int64)
    labels = _agglomerate(vectors, None if count is None else min(count, rows), policy)
    for _ in range(4 * rows):
        if count is not None:
            break
        pruned = _prune(vectors, labels, policy)
        if pruned is None:
            break
        labels = pruned
    for _ in range(10):
        k = int(labels.max()) + 1
        moved = np.argmax(vectors @ centroids(vectors, labels, k).T, axis=1).astype(np.int64)
        if np.array_equal(moved, labels) or len(np.unique(moved)) < k:
            break
        labels = moved
    return _compact(labels)


def smooth_path(scores: npt.NDArray[np.float64], *, switch_cost: npt.NDArray[np.float64]) -> Labels:
    """Viterbi: the label sequence maximising sum(scores[t, label_t]) - switching costs.

    `scores` is (T, k); `switch_cost[t]` is the cost of a label change between t-1 and t
    (switch_cost[0] is unused). Ties keep the lower label.
    """
    steps, k = scores.shape
    if steps == 0:
        return np.zeros(0, dtype=np.int64)
    total = scores[0].copy()
    back = np.zeros((steps, k), dtype=np.int64)
    for t in range(1, steps):
        best = int(np.argmax(total))
        switched = total[best] - switch_cost[t]
        stay = total >= switched
        back[t] = np.where(stay, np.arange(k), best)
        total = np.where(stay, total, switched) + scores[t]
    path = np.zeros(steps, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
