"""Embedding files keep each vector with its id; readers match by id, not by position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clirbench.core.embedding_files import read_embeddings, vectors_in_order, write_embeddings


def test_vectors_come_back_in_the_order_asked_for(tmp_path: Path) -> None:
    ids = np.array(["d2", "d1", "d3"])
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    write_embeddings(ids, vectors, tmp_path / "e.npz")
    stored_ids, stored = read_embeddings(tmp_path / "e.npz")
    assert stored_ids.tolist() == ["d2", "d1", "d3"] and np.array_equal(stored, vectors)
    ordered = vectors_in_order(tmp_path / "e.npz", ["d1", "d2", "d3"])
    assert ordered.tolist() == [[2.0, 3.0], [0.0, 1.0], [4.0, 5.0]]


def test_an_id_without_a_vector_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    write_embeddings(np.array(["q1", "q2"]), np.zeros((2, 4), dtype=np.float32), path)
    with pytest.raises(ValueError, match=r"old\.npz: no vectors for 1 of 3 ids \(e\.g\. q9\)"):
        vectors_in_order(path, ["q1", "q9", "q2"])


def test_ids_and_vectors_must_pair_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 ids for 3 vectors"):
        write_embeddings(np.array(["a", "b"]), np.zeros((3, 2), dtype=np.float32), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
