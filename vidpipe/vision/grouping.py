"""Grouping face embeddings: the same person across images, without chaining strangers together.

Average linkage (UPGMA) on cosine distances: two groups join only while the *average* distance
between their members stays under the threshold, so a chain of look-alikes (A≈B≈C, A≠C) does
not collapse into one group as it would with single linkage. Implemented as the nearest-neighbour
chain algorithm on a numpy distance matrix: O(n²) time and memory, 5 000 faces in well under a
second. A cluster whose nearest neighbour is already over the threshold can never merge again
(average linkage is reducible), so it is retired at once.

A person's decisions are constraints: ``cannot`` pairs are never in one group, ``must`` pairs
always are (unless that would put a ``cannot`` pair together). ``apart`` pairs are the machine's
own cannot-links (two faces found in one photo are two people): the clustering never joins them,
but a person's ``must`` may.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

#: Cosine distance under which two Dlib faces are the same person, with average linkage. Tuned on
#: zidane.jpg, bus.jpg and gracehopper.jpg plus re-cropped+resized+JPEG-q55, upscaled+WebP and
#: greyscale copies (19 faces, 5 people): pairwise, the same person measured up to 0.061 and
#: different people down to 0.056 (both with a greyscale copy involved), so no pairwise cut is
#: clean; with average linkage every threshold from 0.055 to 0.075 gave the 5 right groups. 0.065
#: sits in the middle of that range.
TUNED_THRESHOLDS = {"Dlib": 0.065}
_CANNOT = 1e12  # far beyond any threshold even after averaging over huge groups


def default_threshold(model_name: str) -> float:
    if model_name in TUNED_THRESHOLDS:
        return TUNED_THRESHOLDS[model_name]
    from deepface.modules.verification import find_threshold  # heavy: only for other models

    return float(find_threshold(model_name, "cosine"))


def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    vectors = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1, norms)
    distances = 1.0 - vectors @ vectors.T
    np.clip(distances, 0.0, 2.0, out=distances)
    return distances


def group_faces(
    embeddings: Sequence[Sequence[float]] | np.ndarray,
    threshold: float,
    must: Iterable[tuple[int, int]] = (),
    cannot: Iterable[tuple[int, int]] = (),
    apart: Iterable[tuple[int, int]] = (),
) -> list[int]:
    """A group label per embedding (0..k-1, numbered by first appearance)."""
    n = len(embeddings)
    if n == 0:
        return []
    cannot = [(a, b) for a, b in cannot if a != b]
    distances = cosine_distances(np.asarray(embeddings)) if n > 1 else np.zeros((1, 1), np.float32)
    for a, b in [*cannot, *((a, b) for a, b in apart if a != b)]:
        distances[a, b] = distances[b, a] = _CANNOT
    parent = _average_linkage(distances, threshold)
    _apply_must_links(parent, must, cannot)
    labels: dict[int, int] = {}
    return [labels.setdefault(_find(parent, i), len(labels)) for i in range(n)]


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _average_linkage(distances: np.ndarray, threshold: float) -> list[int]:
    n = distances.shape[0]
    parent = list(range(n))
    if n < 2:
        return parent
    d = distances.astype(np.float32, copy=True)
    np.fill_diagonal(d, np.inf)
    size = np.ones(n, dtype=np.float32)
    active = np.ones(n, dtype=bool)
    remaining = n
    chain: list[int] = []
    while remaining > 1:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        a = chain[-1]
        row = d[a]
        b = int(np.argmin(row))
        best = float(row[b])
        if len(chain) > 1 and float(row[chain[-2]]) <= best:
            b, best = chain[-2], float(row[chain[-2]])
        if not best <= threshold:  # also catches inf: a is alone for good
            active[a] = False
            d[a, :] = np.inf
            d[:, a] = np.inf
            chain.pop()
            remaining -= 1
            continue
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            # Lance–Williams for average linkage; the merged cluster keeps index a.
            merged = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])
            d[a, :] = merged
            d[:, a] = merged
            d[a, a] = np.inf
            d[b, :] = np.inf
            d[:, b] = np.inf
            size[a] += size[b]
            active[b] = False
            parent[b] = a
            remaining -= 1
        else:
            chain.append(b)
    return parent


def _apply_must_links(
    parent: list[int], must: Iterable[tuple[int, int]], cannot: list[tuple[int, int]]
) -> None:
    for a, b in must:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra == rb:
            continue
        members = lambda root: {i for i in range(len(parent)) if _find(parent, i) == root}  # noqa: E731
        left, right = members(ra), members(rb)
        if any((x in left and y in right) or (x in right and y in left) for x, y in cannot):
            continue  # a later "not the same person" wins over an older merge
        parent[rb] = ra
