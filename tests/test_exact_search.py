"""Exact dense search against a brute-force full sort."""

from __future__ import annotations

import numpy as np
import pytest

from clirbench.retrieve.exact_search import exact_search


def brute_force(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Full score matrix, full sort by (score desc, document index asc)."""
    scores = queries.astype(np.float64) @ docs.astype(np.float64).T
    doc_numbers = np.arange(len(docs))
    order = np.stack([np.lexsort((doc_numbers, -row)) for row in scores])[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def integer_vectors(rng: np.random.Generator, n: int, dim: int = 6) -> np.ndarray:
    # Small integers: every dot product is exact in float32 whatever the summation order,
    # and many scores tie, which exercises the tie-breaking.
    return rng.integers(-2, 3, size=(n, dim)).astype(np.float32)


def unit_vectors(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=["numpy", "torch"], autouse=True)
def top_k_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with both top-k engines (torch normally serves only large blocks)."""
    if request.param == "torch":
        monkeypatch.setattr("clirbench.retrieve.exact_search.TORCH_TOP_K_MIN_SCORES", 0)
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
    ],
)
def test_matches_brute_force_with_ties(
    n_queries: int, n_docs: int, k: int, query_chunk: int, doc_chunk: int
) -> None:
    rng = np.random.default_rng(n_queries * 1000 + n_docs)
    queries, docs = integer_vectors(rng, n_queries), integer_vectors(rng, n_docs)
    indices, scores = exact_search(queries, docs, k, query_chunk=query_chunk, doc_chunk=doc_chunk)
    expected_indices, expected_scores = brute_force(queries, docs, k)
    assert indices.dtype == np.int64 and scores.dtype == np.float32
    assert indices.shape == scores.shape == (n_queries, min(k, n_docs))
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(scores, expected_scores)


def test_matches_brute_force_on_unit_vectors() -> None:
    rng = np.random.default_rng(7)
    queries, docs = unit_vectors(rng, 50), unit_vectors(rng, 777)
    indices, scores = exact_search(queries, docs, k=25, query_chunk=16, doc_chunk=100)
    expected_indices, expected_scores = brute_force(queries, docs, k=25)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    np.testing.assert_array_equal(indices, expected_indices)
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first


def test_ties_go_to_the_lower_document_index_in_every_chunking() -> None:
    docs = np.ones((10, 4), dtype=np.float32)  # every document scores the same
    queries = np.ones((2, 4), dtype=np.float32)
    for doc_chunk in (1, 3, 4, 10):
        indices, scores = exact_search(queries, docs, k=4, doc_chunk=doc_chunk)
        np.testing.assert_array_equal(indices, [[0, 1, 2, 3]] * 2)
        np.testing.assert_array_equal(scores, np.full((2, 4), 4.0))


def test_empty_inputs() -> None:
    vectors = np.ones((3, 4), dtype=np.float32)
    indices, scores = exact_search(vectors, vectors[:0], k=5)
    assert indices.shape == scores.shape == (3, 0)
    indices, scores = exact_search(vectors[:0], vectors, k=5)
    assert indices.shape == scores.shape == (0, 3)


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
