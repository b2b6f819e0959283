"""TREC run files keep what the search produced: every score exactly, and an empty run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from clirbench.core.trec import read_run, write_run
from clirbench.evaluate.metrics import METRICS, evaluate_run


def test_scores_round_trip_exactly(tmp_path: Path) -> None:
    """Reliability finding 11: with 6 decimals, 0.8327321 and 0.8327324 (ranks 8 and 9 of a
    Tatoeba run) both printed 0.832732, a tie the search never produced."""
    path = tmp_path / "run.trec"
    scores = np.array([[0.8327324, 0.8327321, 1e-9]], dtype=np.float32)
    write_run(path, ["q1"], ["d1", "d2", "d3"], np.array([[1, 0, 2]]), scores, "dense")
    run = read_run(path)
    assert run["doc_id"].to_list() == ["d2", "d1", "d3"]
    assert run["score"].to_numpy().astype(np.float32).tolist() == scores[0].tolist()
    assert run["score"].n_unique() == 3

    exact = np.array([[0.1 + 0.2, 0.3]], dtype=np.float64)  # differ only in the 17th digit
    write_run(path, ["q1"], ["a", "b"], np.array([[0, 1]]), exact, "bm25")
    assert read_run(path)["score"].to_list() == exact[0].tolist()


def test_empty_run_scores_zero(tmp_path: Path) -> None:
    """Reliability finding 1: a run that retrieved nothing (BM25 across scripts) crashed
    evaluation with a null-typed schema; it is a valid run where every query scores 0."""
    path = tmp_path / "empty.trec"
    write_run(path, ["q1", "q2"], ["d1"], np.full((2, 1), -1), np.zeros((2, 1)), "bm25")
    assert path.read_text() == ""
    run = read_run(path)
    assert run.height == 0
    assert run.schema == {
        "query_id": pl.String,
        "doc_id": pl.String,
        "rank": pl.Int32,
        "score": pl.Float64,
    }
    docs = pl.DataFrame({"doc_id": ["d1"], "lang": ["ja"], "title": [""], "text": ["猫"]})
    queries = pl.DataFrame(
        {"query_id": ["q1", "q2"], "lang": ["en", "en"], "text": ["cat", "dog"], "split": "test"}
    )
    qrels = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d1", "d1"], "relevance": [1, 1]})
    per_unit = evaluate_run(run, qrels, queries, docs)
    assert per_unit.height == 2 * len(METRICS)
    assert per_unit["value"].to_list() == [0.0] * per_unit.height
