"""Exact dense search against a simple reference: the full score matrix, fully sorted."""

from __future__ import annotations

import numpy as np
import pytest

from clirbench.retrieve import exact_search as module
from clirbench.retrieve.exact_search import exact_search


def reference(
    queries: np.ndarray,
    docs: np.ndarray,
    k: int,
    dtype: type = np.float32,
    query_chunk: int = 1024,
    doc_chunk: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """Full score matrix, stable sort of each row by (score descending, index ascending).

    float64 scores are exact for small-integer vectors. float32 scores are the products of
    the same (query chunk x document chunk) blocks as exact_search's: BLAS results depend
    on the shape of the product in their last bits, so that gives bit-for-bit the scores
    exact_search computes, with or without its chunking.
    """
    queries, docs = queries.astype(dtype), docs.astype(dtype)
    scores = np.vstack(
        [
            np.hstack(
                [
                    queries[i : i + query_chunk] @ docs[j : j + doc_chunk].T
                    for j in range(0, len(docs), doc_chunk)
                ]
            )
            for i in range(0, len(queries), query_chunk)
        ]
    )
    doc_numbers = np.arange(len(docs))
    order = np.stack([np.lexsort((doc_numbers, -row)) for row in scores])[:, :k]
    return order, np.take_along_axis(scores, order, axis=1).astype(np.float32)


def integer_vectors(rng: np.random.Generator, n: int, dim: int = 6) -> np.ndarray:
    # Small integers: every dot product is exact in float32 whatever the summation order,
    # and many scores tie, which exercises the tie-breaking.
    return rng.integers(-2, 3, size=(n, dim)).astype(np.float32)


def unit_vectors(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


PATHS = {
    # Narrow rows only: argpartition-like selection of every block.
    "partition": {"GROUPED_MIN_COLUMNS_PER_K": 10**9},
    # Group maxima wherever a block is wide enough to have more than k groups.
    "grouped": {"GROUPED_MIN_COLUMNS_PER_K": 1},
    # Group maxima, one row at a time.
    "row by row": {"GROUPED_MIN_COLUMNS_PER_K": 1, "MIN_ROWS": 1, "ROWS_BYTES": 1},
}


@pytest.fixture(params=sorted(PATHS), autouse=True)
def selection_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs through each selection path (the defaults pick them by block size)."""
    for name, value in PATHS[request.param].items():
        monkeypatch.setattr(module, name, value)
    return str(request.param)


@pytest.mark.parametrize(
    ("n_queries", "n_docs", "k", "query_chunk", "doc_chunk"),
    [
        (37, 501, 10, 8, 64),  # chunks that divide nothing
        (37, 501, 10, 1024, 65536),  # the defaults: a single block
        (5, 40, 100, 3, 7),  # k > n_docs
        (4, 1, 5, 2, 3),  # a single document
        (9, 30, 30, 4, 30),  # k == n_docs
        (9, 64, 1, 9, 1),  # k 1, one document per block
        (3, 50, 12, 2, 5),  # k larger than the document chunk
        (20, 3000, 7, 16, 1000),  # wide blocks: many groups
        (11, 2000, 50, 4, 2000),  # k a large share of the row
    ],
)
def test_matches_reference_with_ties(
    n_queries: int, n_docs: int, k: int, query_chunk: int, doc_chunk: int
) -> None:
    rng = np.random.default_rng(n_queries * 1000 + n_docs)
    queries, docs = integer_vectors(rng, n_queries), integer_vectors(rng, n_docs)
    indices, scores = exact_search(queries, docs, k, query_chunk=query_chunk, doc_chunk=doc_chunk)
    expected_indices, expected_scores = reference(queries, docs, k, np.float64)
    assert indices.dtype == np.int64 and scores.dtype == np.float32
    assert indices.shape == scores.shape == (n_queries, min(k, n_docs))
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(scores, expected_scores)


@pytest.mark.parametrize(
    ("n_docs", "k", "query_chunk", "doc_chunk"),
    [(777, 25, 16, 100), (5000, 100, 1024, 65536), (5000, 100, 7, 1999), (3000, 10, 1, 3000)],
)
def test_matches_reference_on_unit_vectors(
    n_docs: int, k: int, query_chunk: int, doc_chunk: int
) -> None:
    rng = np.random.default_rng(7)
    queries, docs = unit_vectors(rng, 50, dim=48), unit_vectors(rng, n_docs, dim=48)
    indices, scores = exact_search(queries, docs, k, query_chunk, doc_chunk)
    expected = reference(queries, docs, k, np.float32, query_chunk, doc_chunk)
    np.testing.assert_array_equal(indices, expected[0])
    assert scores.tobytes() == expected[1].tobytes()  # bit for bit
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    # Against exact float64 scores: the same ranking, the scores within float32 rounding.
    exact_indices, exact_scores = reference(queries, docs, k, np.float64)
    np.testing.assert_array_equal(indices, exact_indices)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)


def test_duplicate_documents_at_the_cut() -> None:
    """Copies of a document tie exactly: the k-th place goes to the lowest-numbered copy."""
    rng = np.random.default_rng(3)
    docs = unit_vectors(rng, 4000, dim=32)
    queries = unit_vectors(rng, 30, dim=32)
    # Copy the k-th best document (k = 20) of some queries to 5 other places, before and
    # after it, so that ties straddle the cut, in various groups and blocks.
    kth_docs = reference(queries, docs, 20)[0][:, 19]
    for doc in kth_docs[:10]:
        docs[rng.choice(4000, 5, replace=False)] = docs[doc]
    expected = reference(queries, docs, 20)
    for query_chunk, doc_chunk in ((1024, 65536), (7, 999), (30, 1500)):
        indices, scores = exact_search(queries, docs, 20, query_chunk, doc_chunk)
        np.testing.assert_array_equal(indices, expected[0])
        np.testing.assert_array_equal(scores, expected[1])


CHUNKINGS = [(1024, 65536), (13, 1500), (70, 749), (1, 500), (33, 31), (64, 7)]


def test_results_do_not_depend_on_chunks() -> None:
    """Small-integer vectors (exact scores in any summation order, many ties): the same
    indices and scores, bit for bit, in every chunking."""
    rng = np.random.default_rng(11)
    queries, docs = integer_vectors(rng, 70, dim=8), integer_vectors(rng, 1500, dim=8)
    expected = reference(queries, docs, 30, np.float64)
    for query_chunk, doc_chunk in CHUNKINGS:
        indices, scores = exact_search(queries, docs, 30, query_chunk, doc_chunk)
        np.testing.assert_array_equal(indices, expected[0])
        assert scores.tobytes() == expected[1].tobytes()


def test_unit_vectors_in_every_chunking() -> None:
    """Float scores: each chunking matches the reference of its own blocks bit for bit,
    and the ranking is the same in every chunking (BLAS's last bits depend on a block's
    shape, but not enough to swap these documents)."""
    rng = np.random.default_rng(12)
    queries, docs = unit_vectors(rng, 70, dim=64), unit_vectors(rng, 1500, dim=64)
    docs[1000:1100] = docs[:100]  # exact ties too
    first = None
    for query_chunk, doc_chunk in CHUNKINGS:
        indices, scores = exact_search(queries, docs, 30, query_chunk, doc_chunk)
        expected = reference(queries, docs, 30, np.float32, query_chunk, doc_chunk)
        np.testing.assert_array_equal(indices, expected[0])
        assert scores.tobytes() == expected[1].tobytes()
        if first is None:
            first = (indices, scores)
        np.testing.assert_array_equal(indices, first[0])
        np.testing.assert_allclose(scores, first[1], atol=1e-6)


def test_ties_go_to_the_lower_document_index_in_every_chunking() -> None:
    docs = np.ones((10, 4), dtype=np.float32)  # every document scores the same
    queries = np.ones((2, 4), dtype=np.float32)
    for doc_chunk in (1, 3, 4, 10):
        indices, scores = exact_search(queries, docs, k=4, doc_chunk=doc_chunk)
        np.testing.assert_array_equal(indices, [[0, 1, 2, 3]] * 2)
        np.testing.assert_array_equal(scores, np.full((2, 4), 4.0))
    docs = np.ones((5000, 4), dtype=np.float32)  # the same, on wide blocks
    indices, _ = exact_search(queries, docs, k=100, doc_chunk=3000)
    np.testing.assert_array_equal(indices, [np.arange(100)] * 2)


def test_negative_and_zero_scores() -> None:
    """Order-preserving keys: negative scores, and -0.0 tying with 0.0."""
    queries = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    docs = np.array([[-3, 0], [0, 1], [2, 0], [-1, 0], [0, -1], [-2, 5]], dtype=np.float32)
    expected = reference(queries, docs, 6, np.float64)
    indices, scores = exact_search(queries, docs, k=6)
    np.testing.assert_array_equal(indices, expected[0])
    np.testing.assert_array_equal(scores, expected[1])


def test_empty_inputs() -> None:
    vectors = np.ones((3, 4), dtype=np.float32)
    indices, scores = exact_search(vectors, vectors[:0], k=5)
    assert indices.shape == scores.shape == (3, 0)
    indices, scores = exact_search(vectors[:0], vectors, k=5)
    assert indices.shape == scores.shape == (0, 3)


def test_float64_and_non_contiguous_inputs() -> None:
    rng = np.random.default_rng(5)
    queries, docs = integer_vectors(rng, 12), integer_vectors(rng, 300)
    expected = exact_search(queries, docs, k=9)
    result = exact_search(
        np.asfortranarray(queries.astype(np.float64)), docs.astype(np.float64)[::1], k=9
    )
    np.testing.assert_array_equal(result[0], expected[0])
    np.testing.assert_array_equal(result[1], expected[1])


@pytest.mark.parametrize(
    ("queries", "docs", "options", "message"),
    [
        (np.ones((2, 4)), np.ones((3, 5)), {}, "dimension mismatch"),
        (np.ones(4), np.ones((3, 4)), {}, "2-D"),
        (np.ones((2, 4)), np.ones((3, 4)), {"k": 0}, "k must be"),
        (np.ones((2, 4)), np.ones((3, 4)), {"doc_chunk": 0}, "doc_chunk must be"),
    ],
)
def test_bad_arguments_are_rejected(
    queries: np.ndarray, docs: np.ndarray, options: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        exact_search(queries, docs, **options)


@pytest.mark.parametrize("n_columns", [40, 3000])
def test_signed_zeros_tie_by_index(n_columns: int) -> None:
    """-0.0 and 0.0 compare equal, so they tie and go by document index, as in a sort of
    the floats; the keys that select the top k must not split them. (A BLAS product rarely
    returns -0.0, so the selection is given such a block directly.)"""
    rng = np.random.default_rng(n_columns)
    block = rng.choice(np.array([-0.0, 0.0, 1.0, -1.0, 0.5], dtype=np.float32), (6, n_columns))
    block[:, :50] = np.float32(-0.0)  # many zeros of both signs around the cut
    block[:, 50:100] = np.float32(0.0)
    depth = 30
    best = (np.zeros((6, depth), dtype=np.int64), np.zeros((6, depth), dtype=np.float32))
    module._merge_block_rows(np.ascontiguousarray(block), 0, depth, *best, slice(None))
    columns = np.arange(n_columns)
    expected = np.stack([np.lexsort((columns, -row))[:depth] for row in block])
    np.testing.assert_array_equal(best[0], expected)
    assert best[1].tobytes() == np.take_along_axis(block, expected, axis=1).tobytes()
