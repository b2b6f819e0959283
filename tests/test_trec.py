"""TREC run files keep what the search produced: every score exactly, and an empty run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from clirbench.core.trec import (
    RUN_SCHEMA,
    read_qrels,
    read_run,
    write_qrels,
    write_run,
)
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


AWKWARD_SCORES = [
    0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-4, 9.9999e-5, 1e-5, 1.5e-7, 1e-9, 12.0, 100.0,
    123456789.0, 1e9, 3e12, 1e17, 1e20, 1e-30, 0.1 + 0.2, 1000000.125, 1000000.375,
    1000000000000000.25, 9.9999999996, 0.99999999995, np.inf, -np.inf, np.nan,
]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_score_reads_back_exactly_and_padding_is_skipped(
    tmp_path: Path, dtype: type[np.floating]
) -> None:
    rng = np.random.default_rng(7)
    n_queries, k, n_docs = 400, 30, 5000
    doc_ids = [f"d{i}" for i in range(n_docs - 4)] + ["007", 'd"q', "dé,1", "d#x"]
    query_ids = [f"q{i:03d}" for i in range(n_queries)]
    indices = np.stack([rng.choice(n_docs, size=k, replace=False) for _ in range(n_queries)])
    indices[:20, 25:] = -1  # padding: pools with fewer than k documents
    indices[20:25, ::3] = -1  # wherever it is, it is skipped and ranks stay 1, 2, 3...
    indices[25] = -1  # a query with nothing retrieved writes no line
    indices[26, :4] = [n_docs - 1, n_docs - 2, n_docs - 3, n_docs - 4]
    # Scores of every magnitude and sign, ties, and the values next to powers of ten.
    magnitudes = 10.0 ** rng.uniform(-12, 12, size=(n_queries, k))
    scores = (magnitudes * rng.choice([-1.0, 1.0], size=(n_queries, k))).astype(dtype)
    scores[30:60] = rng.uniform(0, 1, size=(30, k)).astype(dtype)  # dense similarities
    scores[60:90] = rng.uniform(0, 40, size=(30, k)).astype(dtype)  # BM25
    scores[90:100] = np.round(rng.uniform(0, 1, size=(10, k)), 1).astype(dtype)  # ties
    scores[100, : len(AWKWARD_SCORES)] = np.array(AWKWARD_SCORES).astype(dtype)
    scores[101] = np.nextafter(10.0 ** np.arange(-15, 15), np.inf).astype(dtype)
    scores[102] = np.nextafter(10.0 ** np.arange(-15, 15), -np.inf).astype(dtype)
    path = tmp_path / "run.trec"
    write_run(path, query_ids, doc_ids, indices, scores, "sys-1")
    run = read_run(path)
    valid = indices >= 0
    assert run.height == int(valid.sum())
    expected_ids = [query_ids[row] for row in np.nonzero(valid)[0]]
    assert run["query_id"].to_list() == expected_ids
    assert run["doc_id"].to_list() == [doc_ids[i] for i in indices[valid]]
    ranks = run.group_by("query_id", maintain_order=True).agg(pl.col("rank"))["rank"].to_list()
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)
    # Every score reads back exactly (NaN as NaN), so the order and the ties are the search's.
    read_back = run["score"].to_numpy().astype(dtype)
    assert np.array_equal(read_back, scores[valid], equal_nan=True)


def test_write_run_checks_its_arguments(tmp_path: Path) -> None:
    one = np.zeros((1, 1))
    shape = r"expected \(n_queries, k\)"
    with pytest.raises(ValueError, match=shape):
        write_run(tmp_path / "r", ["q1", "q2"], ["d1"], np.zeros((1, 1), int), one, "s")
    with pytest.raises(ValueError, match=shape):
        write_run(tmp_path / "r", ["q1"], ["d1"], np.zeros((1, 2), int), one, "s")
    with pytest.raises(IndexError, match="document index 5"):
        write_run(tmp_path / "r", ["q1"], ["d1"], np.array([[5]]), one, "s")
    assert not list(tmp_path.iterdir())


def test_qrels_round_trip_byte_identical(tmp_path: Path) -> None:
    qrels = pl.DataFrame(
        {
            "query_id": ["q1", "q1", "007", "q2"],
            "doc_id": ["d1", "001", "d\"é", "d#"],
            "relevance": pl.Series([1, 0, 3, -1], dtype=pl.Int32),
        }
    )
    path = tmp_path / "qrels.trec"
    write_qrels(qrels, path)
    expected = "".join(f"{q} 0 {d} {r}\n" for q, d, r in qrels.iter_rows())
    assert path.read_text(encoding="utf-8") == expected
    assert read_qrels(path).equals(qrels)


REGULAR = "q1 Q0 d1 1 0.5 s\nq1 Q0 007 2 0.25 s\nq2 Q0 1e5 1 -3 s\n"


@pytest.mark.parametrize(
    "content",
    [
        REGULAR,
        REGULAR.rstrip("\n"),  # no line break after the last line
        REGULAR.replace(" ", "\t"),
        REGULAR.replace(" ", "  \t "),
        REGULAR.replace("\n", " \n  "),  # leading and trailing whitespace
        REGULAR.replace("\n", "\r\n"),
        REGULAR.replace("\n", "\r"),  # old Mac line breaks
        "\n \n" + REGULAR.replace("\n", "\n\n\t\n"),  # blank lines anywhere
        "\ufeff" + REGULAR,  # a byte-order mark, as Windows editors write
        "\ufeff" + REGULAR.replace(" ", "\t"),
    ],
)
def test_read_run_accepts_any_whitespace(tmp_path: Path, content: str) -> None:
    path = tmp_path / "run.trec"
    path.write_bytes(content.encode("utf-8"))
    run = read_run(path)
    assert run.schema == RUN_SCHEMA
    assert run.rows() == [("q1", "d1", 1, 0.5), ("q1", "007", 2, 0.25), ("q2", "1e5", 1, -3.0)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1 Q0 d1 1 0.5\n", r":1: expected 6 whitespace-separated fields .*found 5"),
        ("q1 Q0 d1 1 0.5 s x\n", r":1: expected 6 whitespace-separated fields .*found 7"),
        (REGULAR + "\n\nq2 Q0 d2 2 0.1\n", r":6: expected 6 .*found 5"),
        (REGULAR + "q2 Q0 d2 2 0.1 s extra\n", r":4: expected 6 .*found 7"),
        (REGULAR + "q2  d2 2 0.1 s\n", r":4: expected 6 .*found 5"),  # empty field
        (REGULAR + "q2 Q0 d\t2 2 0.1 s\n", r":4: expected 6 .*found 7"),  # a tab separates
        (REGULAR.replace("\n", "\r\n") + "q2 Q0 d2\r\n", r":4: expected 6 .*found 3"),
        ("\n" + REGULAR.replace("2 0.25", "two 0.25"), r":3: rank must be an integer"),
        (REGULAR.replace("0.25", "0,25"), r":2: score must be a number"),
        (REGULAR.replace(" ", "\t").replace("0.25", "x"), r":2: score must be a number"),
    ],
)
def test_malformed_run_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "run.trec"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path)) + message):
        read_run(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1 0 d1 1\nq1 0 d2\n", r":2: expected 4 whitespace-separated fields"),
        ("q1 0 d1 1\n\n\nq1 0 d2 1.5\n", r":4: relevance must be an integer"),
        ("q1\t0\td1\thigh\n", r":1: relevance must be an integer"),
    ],
)
def test_malformed_qrels_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "qrels.trec"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path)) + message):
        read_qrels(path)


def test_qrels_not_utf8_raise_unicode_decode_error(tmp_path: Path) -> None:
    """data.local names the line of a UnicodeDecodeError, so it must reach the caller."""
    path = tmp_path / "qrels.trec"
    path.write_bytes("q1 0 d1 1\nq2 0 groß 1\n".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        read_qrels(path)


def test_blank_file_is_an_empty_run(tmp_path: Path) -> None:
    path = tmp_path / "blank.trec"
    path.write_text("\n \n\t\n", encoding="utf-8")
    run = read_run(path)
    assert run.height == 0 and run.schema == RUN_SCHEMA
