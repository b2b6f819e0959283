"""Exact dense retrieval: top-k by dot product, in memory bounded by the chunk sizes.

Vectors are L2-normalised, so the dot product is the cosine. Scores are computed one
(query chunk x document chunk) block at a time and merged into a running top-k, so a
corpus of millions of documents never needs an (n_queries x n_documents) score matrix.
Ranking is by score descending, ties by document index ascending, so runs are
reproducible whatever the chunk sizes.
"""

from __future__ import annotations

import numpy as np


def exact_search(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    k: int = 100,
    query_chunk: int = 1024,
    doc_chunk: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """Best min(k, n_docs) documents per query: (indices int64, scores float32), best first.

    Peak memory is about 12 bytes per query_chunk x doc_chunk block entry (float32 scores
    plus argpartition's int64 positions: 0.8 GB at the defaults), whatever the number of
    queries and documents.
    """
    _check_inputs(query_vectors, doc_vectors, k, query_chunk, doc_chunk)
    queries = np.asarray(query_vectors, dtype=np.float32)
    docs = np.asarray(doc_vectors, dtype=np.float32)
    depth = min(k, len(docs))
    indices = np.empty((len(queries), depth), dtype=np.int64)
    scores = np.empty((len(queries), depth), dtype=np.float32)
    for start in range(0, len(queries), query_chunk):
        rows = slice(start, start + query_chunk)
        indices[rows], scores[rows] = _search_query_chunk(queries[rows], docs, depth, doc_chunk)
    return indices, scores


def _search_query_chunk(
    queries: np.ndarray, docs: np.ndarray, depth: int, doc_chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    best_indices = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, len(docs), doc_chunk):
        block_scores = queries @ docs[start : start + doc_chunk].T
        block_indices = np.broadcast_to(
            np.arange(start, start + block_scores.shape[1], dtype=np.int64), block_scores.shape
        )
        # Shrink the block to its own top-k first: merging then touches only 2k columns.
        block_indices, block_scores = top_k(block_indices, block_scores, depth)
        best_indices, best_scores = top_k(
            np.concatenate([best_indices, block_indices], axis=1),
            np.concatenate([best_scores, block_scores], axis=1),
            depth,
        )
    return best_indices, best_scores


def top_k(indices: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best candidates of each row, sorted by score descending then index ascending.

    `indices` are the candidates' document numbers (distinct within a row), `scores` theirs.
    """
    if scores.shape[1] > k:
        chosen = _partition_top_k(indices, scores, k)
        indices = np.take_along_axis(indices, chosen, axis=1)
        scores = np.take_along_axis(scores, chosen, axis=1)
    order = np.lexsort((indices, -scores), axis=1)
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(scores, order, axis=1)


def _partition_top_k(indices: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's k best candidates (unordered), ties settled by index."""
    chosen = _top_k_positions(scores, k)
    kth_score = np.take_along_axis(scores, chosen, axis=1).min(axis=1, keepdims=True)
    # argpartition picks arbitrarily among candidates tied with the k-th score; such rows
    # (rare with real embeddings) are redone by a full sort that prefers low indices.
    straddling = np.flatnonzero((scores >= kth_score).sum(axis=1) > k)
    for row in straddling:
        chosen[row] = np.lexsort((indices[row], -scores[row]))[:k]
    return chosen


# Below this many scores a block is cheap for numpy, and importing torch (~2 s) would cost
# more than it saves.
TORCH_TOP_K_MIN_SCORES = 1 << 22


def _top_k_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's k largest scores, unordered.

    On large blocks torch.topk, which is multi-threaded and about 8x faster than numpy's
    argpartition there (benchmarks/run.py); ties are settled by the caller.
    """
    if scores.size < TORCH_TOP_K_MIN_SCORES:
        return np.argpartition(scores, -k, axis=1)[:, -k:]
    import torch

    block = torch.from_numpy(np.ascontiguousarray(scores))
    return torch.topk(block, k, dim=1, sorted=False).indices.numpy()


def _check_inputs(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, k: int, query_chunk: int, doc_chunk: int
) -> None:
    if query_vectors.ndim != 2 or doc_vectors.ndim != 2:
        raise ValueError("query_vectors and doc_vectors must be 2-D (n, dim) arrays")
    if query_vectors.shape[1] != doc_vectors.shape[1]:
        raise ValueError(
            f"dimension mismatch: queries {query_vectors.shape[1]}, documents {doc_vectors.shape[1]}"
        )
    for name, value in (("k", k), ("query_chunk", query_chunk), ("doc_chunk", doc_chunk)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
