"""Exact dense retrieval: top-k by dot product, in memory bounded by the chunk sizes.

Vectors are L2-normalised, so the dot product is the cosine. Scores are computed one
(query chunk x document chunk) block at a time, by one numpy (BLAS) matrix product into a
score buffer reused for every block (and kept for the next call), and merged into a
running top-k, so a corpus of millions of documents never needs an (n_queries x
n_documents) score matrix. Ranking is by score descending, ties by document index
ascending, so the ranking does not depend on the chunk sizes (a score's last bits may: BLAS
rounds differently for some block shapes, as it always did here; the tests compare each
chunking with the products of its own blocks).

The matrix product is the work that cannot be avoided; the top-k selection must stay
small beside it. A plain selection (argpartition, torch.topk) costs about as much per
score as the product itself at 384 dimensions, so on wide blocks each row's k best are
found while reading most scores only once:

1. the row's columns are split into groups (group g: columns g, g + G, g + 2G, ...) and
   one pass takes each group's maximum;
2. the k groups with the highest maxima are kept: their lowest maximum, the floor, is at
   most the row's k-th best score, and every score above it lies in one of these groups;
3. the scores of those groups are the candidates, and their k + 1 best are found. The k
   best are settled when the (k + 1)-th is below the k-th (no tie straddles the cut) and
   no score left out can equal the k-th (it is above the floor, or no other group's
   maximum reaches the floor).
   Otherwise (ties at the cut: duplicate documents, small-integer vectors) the row is
   redone exactly from all its scores at or above the k-th best, a handful.

Narrow blocks take the k + 1 best of the whole row, with the same check. Selections work
on int64 keys (a score's bits made order-preserving, above a column number), which numpy
partitions and sorts faster than it arg-partitions floats. Only the k chosen per block
are sorted, and merging them into the running top-k is one sort of 2k keys per query.
Rows are processed a few at a time, so that their scores stay in the CPU cache between
the passes. (Threads did not help: numpy holds the GIL while it partitions and sorts.)
"""

from __future__ import annotations

import math

import numpy as np

# Rows at least this many times k wide take the group maxima; narrower ones a partition.
GROUPED_MIN_COLUMNS_PER_K = 16
# Rows per unit of work: about ROWS_BYTES of scores, so that a unit's passes over its
# scores hit the CPU cache, but at least MIN_ROWS, so that numpy's call overheads stay small.
ROWS_BYTES = 1 << 21
MIN_ROWS = 16

_LOW = np.int64(0xFFFFFFFF)  # the column half of a key


def exact_search(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    k: int = 100,
    query_chunk: int = 1024,
    doc_chunk: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """Best min(k, n_docs) documents per query: (indices int64, scores float32), best first.

    Peak memory is about 4 bytes per query_chunk x doc_chunk block entry (one float32
    score buffer: 256 MB at the defaults, kept for the next call) plus O(query_chunk x k),
    whatever the number of queries and documents.
    """
    _check_inputs(query_vectors, doc_vectors, k, query_chunk, doc_chunk)
    n_queries, n_docs = len(query_vectors), len(doc_vectors)
    depth = min(k, n_docs)
    indices = np.empty((n_queries, depth), dtype=np.int64)
    scores = np.empty((n_queries, depth), dtype=np.float32)
    if depth == 0 or n_queries == 0:
        return indices, scores
    rows, columns = min(query_chunk, n_queries), min(doc_chunk, n_docs)
    buffer = _take_buffer(rows * columns)  # every block's scores, in turn
    try:
        _search_blocks(
            query_vectors, doc_vectors, depth, (query_chunk, doc_chunk), buffer, (indices, scores)
        )
    finally:
        _SPARE_BUFFERS[:] = [buffer]
    return indices, scores


def _search_blocks(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    depth: int,
    chunks: tuple[int, int],
    buffer: np.ndarray,
    out: tuple[np.ndarray, np.ndarray],
) -> None:
    """Score block after block into `buffer`, merging each into the top-k in `out`."""
    (n_queries, n_docs), (query_chunk, doc_chunk) = (len(query_vectors), len(doc_vectors)), chunks
    indices, scores = out
    for start in range(0, n_queries, query_chunk):
        queries = np.ascontiguousarray(query_vectors[start : start + query_chunk], np.float32)
        best = (indices[start : start + len(queries)], scores[start : start + len(queries)])
        for first_doc in range(0, n_docs, doc_chunk):
            docs = np.ascontiguousarray(doc_vectors[first_doc : first_doc + doc_chunk], np.float32)
            block = buffer[: len(queries) * len(docs)].reshape(len(queries), len(docs))
            np.matmul(queries, docs.T, out=block)
            for rows in _row_spans(*block.shape):
                _merge_block_rows(block, first_doc, depth, *best, rows)


# The score buffer of the last search, kept for the next one: a fresh buffer's first
# touch (the kernel zeroing its pages) costs 10-15% of a search of 1,000 queries against
# 10,000 documents. One is kept at most (query_chunk x doc_chunk floats at most,
# 256 MB at the defaults); concurrent searches each take their own.
_SPARE_BUFFERS: list[np.ndarray] = []


def _take_buffer(size: int) -> np.ndarray:
    """A float32 buffer of at least `size` entries: the spare one if large enough."""
    spare = _SPARE_BUFFERS.pop() if _SPARE_BUFFERS else None
    if spare is not None and len(spare) >= size:
        return spare
    return np.empty(size, dtype=np.float32)


def _merge_block_rows(
    block: np.ndarray,
    first_doc: int,
    depth: int,
    best_indices: np.ndarray,
    best_scores: np.ndarray,
    rows: slice,
) -> None:
    """Merge the `rows`' `depth` best of a block, whose first column is document
    `first_doc`, into their running top-k: the first min(depth, first_doc) columns of
    `best_*`, sorted (the best of the documents before the block)."""
    block, best_indices, best_scores = block[rows], best_indices[rows], best_scores[rows]
    n_rows, n_columns = block.shape
    if n_columns <= depth:
        chosen = np.tile(np.arange(n_columns, dtype=np.int64), (n_rows, 1))
    else:
        if n_columns >= GROUPED_MIN_COLUMNS_PER_K * depth and _groups(n_columns, depth)[1] > depth:
            chosen, kth, settled = _grouped_candidates(block, depth)
        else:
            chosen, kth, settled = _partitioned_candidates(block, depth)
        chosen.sort(axis=1)
        for row in np.flatnonzero(~settled):
            chosen[row] = _exact_row_top_k(block[row], kth[row], depth)
    chosen_scores = _take_rows(block, chosen)
    chosen += first_doc
    seen = min(depth, first_doc)
    if seen:  # first, all of lower index and sorted: the sort below keeps ties in index order
        chosen = np.concatenate([best_indices[:, :seen], chosen], axis=1)
        chosen_scores = np.concatenate([best_scores[:, :seen], chosen_scores], axis=1)
    # Positions by score descending, ties by position, which is index order among ties.
    keys = _sort_keys(
        chosen_scores, np.arange(chosen.shape[1], dtype=np.int32), descending=True, exact_ties=True
    )
    keys.sort(axis=1)
    order = keys[:, :depth] & _LOW
    width = order.shape[1]
    best_indices[:, :width] = _take_rows(chosen, order)
    best_scores[:, :width] = _take_rows(chosen_scores, order)


def _partitioned_candidates(
    block: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each row's `depth` best columns, unordered; the depth-th best score; whether that
    choice is settled: the (depth + 1)-th best score is lower)."""
    top, kth, next_best = _top_keys(
        _sort_keys(block, np.arange(block.shape[1], dtype=np.int32)), depth
    )
    return top & _LOW, kth, next_best < kth


def _grouped_candidates(block: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As `_partitioned_candidates`, through the group maxima of the module docstring."""
    n_rows, n_columns = block.shape
    group_size, n_groups = _groups(n_columns, depth)
    covered = group_size * n_groups
    maxima = block[:, :covered].reshape(n_rows, group_size, n_groups).max(axis=1)
    top_groups, floor, next_group = _top_keys(
        _sort_keys(maxima, np.arange(n_groups, dtype=np.int32)), depth
    )
    groups = np.sort(top_groups & _LOW, axis=1)  # sorted: the gathers below read in order
    # The candidates: slab by slab (columns j * n_groups + group), then uncovered columns.
    width = group_size * depth
    values = np.empty((n_rows, width + n_columns - covered), dtype=np.float32)
    slabs = values[:, :width].reshape(n_rows, group_size, depth)
    starts = groups + np.arange(0, n_rows * n_columns, n_columns, dtype=np.int64)[:, None]
    flat = block.reshape(-1)
    for j in range(group_size):
        np.take(flat[j * n_groups :], starts, out=slabs[:, j, :], mode="clip")
    values[:, width:] = block[:, covered:]
    top, kth, next_best = _top_keys(
        _sort_keys(values, np.arange(values.shape[1], dtype=np.int32)), depth
    )
    # Scores left out are at most the floor, and below it unless another group ties it.
    settled = (next_best < kth) & ((kth > floor) | (next_group < floor))
    positions = top & _LOW
    slab, place = np.divmod(positions, depth)  # a candidate's slab and group
    chosen = _take_rows(groups, place) + slab * n_groups
    rest = positions >= width
    chosen[rest] = positions[rest] - width + covered
    return chosen, kth, settled


def _groups(n_columns: int, depth: int) -> tuple[int, int]:
    """(group size, number of groups). About sqrt(n_columns * depth) groups balance the
    selection among group maxima against the one among candidates; a little more (groups
    of 0.8 sqrt(n_columns / depth)) measured best, as a maximum costs less than a gather."""
    group_size = max(2, round(0.8 * math.sqrt(n_columns / depth)))
    return group_size, n_columns // group_size


def _sort_keys(
    values: np.ndarray, low: np.ndarray, descending: bool = False, exact_ties: bool = False
) -> np.ndarray:
    """int64 keys that sort like the float32 `values` (or in reverse), then by `low`
    (non-negative int32, broadcast along the rows).

    The high half holds the score's bits made order-preserving (a negative float has its
    other bits flipped), the low half `low`. They also order -0.0 below 0.0, which compare
    equal as floats: the selections check ties on the floats, and with `exact_ties` -0.0
    is made 0.0 first, so that such a tie goes by `low` too.
    """
    bits = (values + np.float32(0.0) if exact_ties else values).view(np.int32)
    ordered = bits >> 31
    ordered &= np.int32(0x7FFFFFFF)
    if descending:
        np.invert(ordered, out=ordered)
    ordered ^= bits  # computed contiguous: ufuncs writing into a strided view are slow
    keys = np.empty(values.shape, dtype=np.int64)
    halves = keys.view(np.int32).reshape(*values.shape, 2)
    high, low_half = (1, 0) if np.little_endian else (0, 1)
    halves[..., high] = ordered
    halves[..., low_half] = low
    return keys


def _key_scores(keys: np.ndarray) -> np.ndarray:
    """The float32 scores of ascending `_sort_keys` keys."""
    bits = (keys >> 32).astype(np.int32)
    bits ^= (bits >> 31) & np.int32(0x7FFFFFFF)
    return bits.view(np.float32)


def _top_keys(keys: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each row's `depth` largest keys, unordered; the score of the depth-th largest; the
    score of the (depth + 1)-th largest). Partitions `keys` in place."""
    cut = keys.shape[1] - depth - 1
    keys.partition(cut, axis=1)
    top = keys[:, cut + 1 :]
    return top, _key_scores(top.min(axis=1)), _key_scores(keys[:, cut])


def _take_rows(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`np.take_along_axis(array, positions, axis=1)` as one flat `take` (faster on the
    small arrays of a unit of rows)."""
    array = np.ascontiguousarray(array)
    offsets = np.arange(0, array.size, array.shape[1], dtype=np.int64)[:, None]
    return array.reshape(-1).take(positions + offsets, mode="clip")


def _exact_row_top_k(row: np.ndarray, kth: np.floating, depth: int) -> np.ndarray:
    """The row's `depth` best columns, ascending, ties at the cut to the lower column."""
    contenders = np.flatnonzero(row >= kth)  # kth is the depth-th best score: a handful
    order = np.argsort(-row[contenders], kind="stable")[:depth]
    return np.sort(contenders[order])


def _row_spans(n_rows: int, n_columns: int) -> list[slice]:
    step = max(MIN_ROWS, ROWS_BYTES // (4 * n_columns))
    return [slice(start, start + step) for start in range(0, n_rows, step)]


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
