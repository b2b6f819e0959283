"""TREC run and qrels files: the exchange format every IR tool reads."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import polars as pl

from clirbench.core.atomic import atomic_open

RUN_SCHEMA = {"query_id": pl.String, "doc_id": pl.String, "rank": pl.Int32, "score": pl.Float64}
QRELS_SCHEMA = {"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32}


def write_run(
    path: str | os.PathLike[str],
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    top_indices: np.ndarray,
    top_scores: np.ndarray,
    system: str,
) -> None:
    """Write a ranked list per query (rows of `top_indices` index into `doc_ids`, best first)."""
    doc_array = np.asarray(doc_ids, dtype=object)
    # Enough digits to give back the exact score (9 for float32, 17 for float64): rounder
    # scores would tie documents the search ranked apart, and evaluation, which breaks ties
    # by doc id as trec_eval does, would then score them at ranks the search never gave.
    digits = 9 if np.asarray(top_scores).dtype.itemsize <= 4 else 17
    with atomic_open(path) as handle:
        for query_id, indices, scores in zip(query_ids, top_indices, top_scores, strict=True):
            valid = indices >= 0  # padding where the pool has fewer than k documents
            for rank, (doc_id, score) in enumerate(
                zip(doc_array[indices[valid]], scores[valid], strict=True), start=1
            ):
                handle.write(f"{query_id} Q0 {doc_id} {rank} {score:.{digits}g} {system}\n")


def read_run(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a TREC run into columns query_id, doc_id, rank, score (an empty file is a valid
    run that retrieved nothing)."""
    frame = _read_columns(path, ["query_id", "q0", "doc_id", "rank", "score", "system"])
    return frame.select(
        pl.col("query_id"),
        pl.col("doc_id"),
        pl.col("rank").cast(pl.Int32),
        pl.col("score").cast(pl.Float64),
    )


def write_qrels(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_open(path) as handle:
        for query_id, doc_id, relevance in frame.select(
            "query_id", "doc_id", "relevance"
        ).iter_rows():
            handle.write(f"{query_id} 0 {doc_id} {relevance}\n")


def read_qrels(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read TREC qrels (`query_id iteration doc_id relevance`); errors name file and line."""
    frame = _read_columns(path, ["query_id", "iteration", "doc_id", "relevance"])
    relevance = frame["relevance"].cast(pl.Int32, strict=False)
    if relevance.null_count():
        line = int(relevance.is_null().arg_max()) + 1  # type: ignore[arg-type]
        raise ValueError(f"{path}:{line}: relevance must be an integer")
    return frame.select("query_id", "doc_id").with_columns(relevance=relevance)


def _read_columns(path: str | os.PathLike[str], names: list[str]) -> pl.DataFrame:
    rows: list[list[str]] = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != len(names):
                raise ValueError(
                    f"{path}:{line_number}: expected {len(names)} whitespace-separated fields "
                    f"({' '.join(names)}), found {len(fields)}"
                )
            rows.append(fields)
    # Typed columns: with no rows polars would infer null-typed ones, which break every
    # join downstream (an empty run is valid: BM25 can match nothing across scripts).
    return pl.DataFrame(rows, schema={name: pl.String for name in names}, orient="row")
