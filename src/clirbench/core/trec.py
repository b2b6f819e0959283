"""TREC run and qrels files: the exchange format every IR tool reads.

Runs hold up to 100k queries x 100 documents (10M lines), so both directions are columnar,
with no Python loop per line: `write_run` builds the columns with numpy and polars and
lets polars write them in one go (each score in the fewest digits that read back exactly);
the readers let polars' CSV reader split the common file (fields separated by single
spaces) and turn to a vectorised tokenizer of whole lines
for anything else (tabs, repeated spaces, CRLF line breaks, blank lines), which also finds
the line of a malformed file.  Fields are separated by runs of ASCII whitespace, as in
trec_eval (C `isspace`).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence

import numpy as np
import polars as pl

from clirbench.core.atomic import atomic_open

RUN_SCHEMA = {"query_id": pl.String, "doc_id": pl.String, "rank": pl.Int32, "score": pl.Float64}
QRELS_SCHEMA = {"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32}

# Every field of a line, in file order, with its type.
_RUN_FIELDS = {
    "query_id": pl.String,
    "q0": pl.String,
    "doc_id": pl.String,
    "rank": pl.Int32,
    "score": pl.Float64,
    "system": pl.String,
}
_QRELS_FIELDS = {
    "query_id": pl.String,
    "iteration": pl.String,
    "doc_id": pl.String,
    "relevance": pl.Int32,
}
# Bytes that make a line irregular for the fast reader (which splits at single spaces only).
_IRREGULAR_BYTES = (b"\t", b"\r", b"\v", b"\f")
_TOKEN = r"[^ \t\n\r\x0b\x0c]+"  # a field: a run of anything but ASCII whitespace
_BOM = "\ufeff"


def write_run(
    path: str | os.PathLike[str],
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    top_indices: np.ndarray,
    top_scores: np.ndarray,
    system: str,
) -> None:
    """Write a ranked list per query (rows of `top_indices` index into `doc_ids`, best first;
    negative indices are padding, where the pool has fewer than k documents, and skipped)."""
    indices = np.asarray(top_indices)
    scores = np.asarray(top_scores)
    if indices.ndim != 2 or scores.shape != indices.shape or len(query_ids) != len(indices):
        raise ValueError(
            f"{len(query_ids)} query ids, top_indices of shape {indices.shape} and top_scores "
            f"of shape {scores.shape}: expected (n_queries, k) for both"
        )
    valid = indices >= 0
    rows = np.nonzero(valid)[0]  # row-major: query after query, each in its own order
    retrieved = indices[valid].astype(np.int64, copy=False)
    if retrieved.size and retrieved.max() >= len(doc_ids):
        raise IndexError(f"document index {retrieved.max()} out of range for {len(doc_ids)} ids")
    ranks = np.cumsum(valid, axis=1, dtype=np.int64)[valid]
    frame = pl.DataFrame(
        {
            "query_id": _strings(query_ids).gather(rows),
            "doc_id": _strings(doc_ids).gather(retrieved),
            "rank": ranks,
            # As float32 or float64, which polars writes in the fewest digits that read back
            # as exactly the same number: rounder scores would tie documents the search
            # ranked apart (evaluation breaks ties by doc id, as trec_eval does), and a
            # shortest decimal keeps the order of the numbers it stands for.
            "score": scores[valid],
        }
    )
    _write_run_lines(frame, path, system)


def write_ranking(frame: pl.DataFrame, path: str | os.PathLike[str], system: str) -> None:
    """Write a run whose rows (query_id, doc_id, score) are in ranking order per query, each
    query's rows together: ranks are numbered from the row order (re-rankers' runs)."""
    ranked = frame.with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("query_id"))
    _write_run_lines(ranked, path, system)


def _write_run_lines(frame: pl.DataFrame, path: str | os.PathLike[str], system: str) -> None:
    lines = frame.select(
        "query_id",
        pl.lit("Q0", pl.String).alias("q0"),
        "doc_id",
        "rank",
        "score",
        pl.lit(system, pl.String).alias("system"),
    )
    with atomic_open(path, "wb") as handle:
        lines.write_csv(handle, include_header=False, separator=" ", quote_style="never")


def read_run(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a TREC run into columns query_id, doc_id, rank, score (an empty file is a valid
    run that retrieved nothing)."""
    return _read_columns(path, _RUN_FIELDS, list(RUN_SCHEMA))


def write_qrels(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    lines = frame.select("query_id", pl.lit("0").alias("iteration"), "doc_id", "relevance")
    with atomic_open(path, "wb") as handle:
        lines.write_csv(handle, include_header=False, separator=" ", quote_style="never")


def read_qrels(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read TREC qrels (`query_id iteration doc_id relevance`); errors name file and line."""
    return _read_columns(path, _QRELS_FIELDS, list(QRELS_SCHEMA))


def _strings(values: Sequence[str]) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.cast(pl.String)
    return pl.Series(values, dtype=pl.String, strict=False)


def _read_columns(
    path: str | os.PathLike[str], fields: dict[str, type[pl.DataType]], keep: list[str]
) -> pl.DataFrame:
    """The `keep` columns of a whitespace-separated file with the given `fields`, typed.

    Errors name the file and the 1-based line: a wrong number of fields, a value that is not
    of its field's type.  Blank lines are skipped; an empty file gives no rows (with typed
    columns: polars would infer null-typed ones, which break every join downstream).
    """
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return pl.DataFrame(schema={name: fields[name] for name in keep})
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as content:
            regular = all(content.find(byte) < 0 for byte in _IRREGULAR_BYTES)
    if regular:
        try:
            frame = pl.read_csv(
                os.fspath(path),
                has_header=False,
                separator=" ",
                quote_char=None,
                schema=fields,
                glob=False,
                raise_if_empty=False,
            )
        except pl.exceptions.PolarsError:
            pass  # too many fields, a value of the wrong type, not UTF-8: find out below
        else:
            # Empty fields (repeated, leading or trailing spaces), missing fields and blank
            # lines read as nulls: such files take the careful path.
            if not any(frame[name].null_count() for name in fields):
                return frame.select(keep)
    return _read_lines(path, fields, keep)


def _read_lines(
    path: str | os.PathLike[str], fields: dict[str, type[pl.DataType]], keep: list[str]
) -> pl.DataFrame:
    """The careful path of `_read_columns`: whole lines, split at runs of whitespace."""
    try:
        lines = pl.read_lines(os.fspath(path), glob=False)["line"]  # without CRLF breaks
    except pl.exceptions.ComputeError:
        lines = _python_lines(path)  # not UTF-8: raises the UnicodeDecodeError
    if lines.str.contains("\r", literal=True).any():
        lines = _python_lines(path)  # a lone CR breaks a line in Python (old Mac files)
    if len(lines) and lines[0].startswith(_BOM):
        lines = pl.concat([pl.Series("line", [lines[0].removeprefix(_BOM)]), lines.slice(1)])
    tokens = lines.str.extract_all(_TOKEN)
    counts = tokens.list.len().fill_null(0)
    wrong = (counts != 0) & (counts != len(fields))
    if wrong.any():
        index = int(wrong.arg_true()[0])
        raise ValueError(
            f"{path}:{index + 1}: expected {len(fields)} whitespace-separated fields "
            f"({' '.join(fields)}), found {counts[index]}"
        )
    table = pl.DataFrame(
        {"line": np.arange(1, len(lines) + 1, dtype=np.int64), "tokens": tokens}
    ).filter(counts != 0)
    positions = {name: position for position, name in enumerate(fields)}
    typed = table.select(
        "line",
        *(
            pl.col("tokens").list.get(positions[name]).cast(fields[name], strict=False).alias(name)
            for name in keep
        ),
    )
    for name in keep:
        bad = typed[name].is_null()
        if bad.any():
            line = typed["line"][int(bad.arg_true()[0])]
            kind = "an integer" if fields[name].is_integer() else "a number"
            raise ValueError(f"{path}:{line}: {name} must be {kind}")
    return typed.select(keep)


def _python_lines(path: str | os.PathLike[str]) -> pl.Series:
    """The lines as Python's text mode splits them (at LF, CRLF and a lone CR)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return pl.Series("line", text.removesuffix("\n").split("\n"), dtype=pl.String)
