"""HNSW approximate search with hnswlib: one index per document pool, the paper's settings.

The unit of work is a pool's document embeddings (L2-normalised, as every encoder here
writes them). The index is hnswlib's cosine space with the paper's M and ef_construction;
a score is 1 - cosine distance, so an HNSW run and an exact run of the same encoder are on
the same scale. Results are ordered like exact search's (score descending, ties by document
index ascending), so the two can be compared row by row.

Two properties matter for reproducible runs:
- the graph depends on insertion order, so it is built on `build_threads` threads (1 by
  default: the same embeddings and settings always give the same graph, byte for byte);
- hnswlib raises "Cannot return the results in a contiguous 2D array" when a search finds
  fewer than k neighbours (ef or M too small for the pool). `hnsw_search` then finds how
  many it can return for that query and pads the rest with -1, which every reader of a run
  skips: a run may hold fewer than k documents for a query.

Candidate groups (`candidate_pool: group`) search the pool's one index with hnswlib's
filter, which lets a search return only the group's documents; the graph is still walked
through the others, and hnswlib keeps searching until it has ef allowed documents, so a
small group costs more visits than an unfiltered search, not less recall. A filter rather
than an index per group, because the index stays the one per pool that the index rule
builds, stores and the efficiency job times (the timings ignore groups), and because the
approximation studied stays that of the pool's graph; the filter is a Python callable, so
grouped searches hold the GIL for every visited node (slower, same results).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SPACE = "cosine"


@dataclass(frozen=True)
class HnswSettings:
    """The index's construction and search settings (the paper's defaults live in the schema)."""

    M: int
    ef_construction: int
    ef: int
    adaptive_ef: bool  # ef at query time = max(ef, 2 * k), the paper's adaptive setting
    seed: int
    build_threads: int

    @classmethod
    def from_config(cls, stage: dict[str, Any]) -> HnswSettings:
        """From `stages.ann_search` (schema defaults filled in)."""
        return cls(
            M=int(stage["M"]),
            ef_construction=int(stage["ef_construction"]),
            ef=int(stage["ef"]),
            adaptive_ef=bool(stage["adaptive_ef"]),
            seed=int(stage["seed"]),
            build_threads=int(stage["build_threads"]),
        )

    def search_ef(self, k: int) -> int:
        """The ef a search for k neighbours runs with. hnswlib itself never searches with
        ef below k; the adaptive setting asks for twice k."""
        return max(self.ef, 2 * k) if self.adaptive_ef else max(self.ef, k)

    def graph_settings(self) -> dict[str, int]:
        """The settings that shape the graph (ef only shapes searches)."""
        return {
            "M": self.M,
            "ef_construction": self.ef_construction,
            "seed": self.seed,
            "build_threads": self.build_threads,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_hnsw_index(vectors: np.ndarray, settings: HnswSettings) -> Any:
    """An hnswlib index over `vectors` (row i gets label i)."""
    import hnswlib

    vectors = _as_float32_matrix(vectors, "vectors")
    index = hnswlib.Index(space=SPACE, dim=vectors.shape[1])
    index.init_index(
        max_elements=max(len(vectors), 1),
        M=settings.M,
        ef_construction=settings.ef_construction,
        random_seed=settings.seed,
    )
    if len(vectors):
        index.add_items(vectors, np.arange(len(vectors)), num_threads=settings.build_threads)
    return index


def load_hnsw_index(path: str, dim: int, count: int) -> Any:
    import hnswlib

    index = hnswlib.Index(space=SPACE, dim=dim)
    index.load_index(str(path), max_elements=max(count, 1))
    return index


def hnsw_search(
    index: Any,
    query_vectors: np.ndarray,
    k: int,
    ef: int,
    threads: int = 1,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best min(k, pool) documents per query: (indices int64, scores float32), best first;
    with `candidates` (labels), only those documents, through hnswlib's filter.

    Where the graph yields fewer for a query, its row ends in index -1 (score -inf).
    """
    queries = _as_float32_matrix(query_vectors, "query_vectors")
    if queries.shape[1] != index.dim:
        raise ValueError(f"dimension mismatch: queries {queries.shape[1]}, index {index.dim}")
    allowed = None if candidates is None else frozenset(np.asarray(candidates).tolist())
    pool = index.get_current_count() if allowed is None else len(allowed)
    depth = min(k, pool)
    indices = np.full((len(queries), depth), -1, dtype=np.int64)
    scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
    if depth == 0 or len(queries) == 0:
        return indices, scores
    # At least `depth`, so that a shorter result list is the graph's limit and not ef's; a
    # shorter list then holds the best of the same search.
    index.set_ef(max(ef, depth))
    try:
        labels, distances = index.knn_query(
            queries, k=depth, num_threads=threads, filter=_filter(allowed)
        )
        found = [(labels, distances)]
        rows = [np.arange(len(queries))]
    except RuntimeError as error:
        if "contiguous 2D array" not in str(error):
            raise
        found, rows = [], []
        for row, query in enumerate(queries):
            labels, distances = _search_as_deep_as_possible(index, query, depth, allowed)
            found.append((labels, distances))
            rows.append(np.array([row]))
    for row_numbers, (labels, distances) in zip(rows, found, strict=True):
        width = labels.shape[1]
        indices[row_numbers, :width] = labels.astype(np.int64)
        scores[row_numbers, :width] = 1.0 - distances
    return _order_like_exact_search(indices, scores)


def _filter(allowed: frozenset[int] | None) -> Any:
    """hnswlib's filter: None (every label) or a callable saying whether a label may be
    returned (a set's own membership test, the cheapest Python callable)."""
    return None if allowed is None else allowed.__contains__


def _search_as_deep_as_possible(
    index: Any, query: np.ndarray, depth: int, allowed: frozenset[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The largest k <= depth that the graph answers for this query (binary search; ef is
    fixed, so every k searches the same candidates and returns the best k of them)."""
    low, high = 0, depth  # low answers (0 trivially), high + 1 does not
    best = (np.empty((1, 0), dtype=np.uint64), np.empty((1, 0), dtype=np.float32))
    only = _filter(allowed)
    while low < high:
        middle = (low + high + 1) // 2
        try:
            best = index.knn_query(query[None, :], k=middle, num_threads=1, filter=only)
            low = middle
        except RuntimeError:
            high = middle - 1
    if best[0].shape[1] != low:
        best = (
            index.knn_query(query[None, :], k=low, num_threads=1, filter=only) if low else best
        )
    return best


def _order_like_exact_search(
    indices: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Score descending, ties by index ascending; padding (-1, -inf) last."""
    padded = indices < 0
    order = np.lexsort((np.where(padded, np.iinfo(np.int64).max, indices), -scores), axis=1)
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(scores, order, axis=1)


def _as_float32_matrix(vectors: np.ndarray, name: str) -> np.ndarray:
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, dim) array, got shape {array.shape}")
    return array
