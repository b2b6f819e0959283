"""Embedding files: the vectors of one table's rows, each stored with its row's id.

`<name>.npz` holds `ids` (unicode strings) and `vectors` (float32, (n, dim)), and the
`fingerprint` of the encoder that made them (a 0-d string) where the writer knew it. Keeping
the ids makes the pairing of a vector with its query or document explicit: a reader checks
the ids instead of trusting that the rows came in the table's order. The fingerprint lets
what is built from the vectors (an HNSW index) say which model made them, without loading
or resolving that model again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from clirbench.core.atomic import atomic_open
from clirbench.core.intermediate import load_npz


def write_embeddings(
    ids: np.ndarray,
    vectors: np.ndarray,
    path: str | os.PathLike[str],
    fingerprint: str | None = None,
) -> None:
    if len(ids) != len(vectors):
        raise ValueError(f"{path}: {len(ids)} ids for {len(vectors)} vectors")
    ids = np.asarray(ids, dtype=str)
    with atomic_open(path, "wb") as handle:  # a handle, so savez adds no ".npz" to the temp
        if fingerprint is None:
            np.savez(handle, ids=ids, vectors=vectors)
        else:
            np.savez(handle, ids=ids, vectors=vectors, fingerprint=np.asarray(fingerprint, str))


def read_embedding_fingerprint(path: str | os.PathLike[str]) -> str | None:
    """The fingerprint of the encoder that wrote the file, if it recorded one."""
    with np.load(path) as stored:
        return str(stored["fingerprint"]) if "fingerprint" in stored.files else None


def read_embeddings(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of an embeddings file."""
    arrays = load_npz(path, ["ids", "vectors"])
    return arrays["ids"], arrays["vectors"]


def vectors_in_order(path: str | os.PathLike[str], wanted_ids: Sequence[str]) -> np.ndarray:
    """The vectors of `wanted_ids`, in that order; an error naming the file if any is missing."""
    ids, vectors = read_embeddings(path)
    position = {identifier: row for row, identifier in enumerate(ids.tolist())}
    missing = [identifier for identifier in wanted_ids if identifier not in position]
    if missing:
        shown = ", ".join(missing[:5])
        raise ValueError(
            f"{path}: no vectors for {len(missing)} of {len(wanted_ids)} ids (e.g. {shown}); "
            "the embeddings are older than the table: delete the file to re-embed"
        )
    return vectors[[position[identifier] for identifier in wanted_ids]]
