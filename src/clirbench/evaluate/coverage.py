"""What a run's depth and its empty queries do to the scores, for the report to say.

The unit of work is one run.  A metric reads a ranking down to its cutoff (Recall@100 the
top 100, "map" the whole pool): a run of `retrieval.top_k` documents per query cuts every
metric that reads deeper than it, unless the pool itself is no larger (`cut_metrics`).  A
judged query the run holds nothing for scores 0 on every metric, as with `trec_eval -c`
and ir-measures, where pytrec_eval on its own leaves it out and so raises its averages;
`run_coverage` counts such queries per run, so the report can say how many there were
instead of leaving the reader to guess which convention the numbers follow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from clirbench.core.intermediate import reading
from clirbench.evaluate.metrics import METRICS, UNIT_KEYS

# run_coverage.csv: per run (dataset, condition, system), `run_coverage`'s counts.
COVERAGE_COLUMNS = [
    "dataset", "condition", "system", "queries", "units", "empty_run", "no_relevant_retrieved",
    "deepest",
]  # fmt: skip
COUNTS = COVERAGE_COLUMNS[3:]


def metric_cutoff(metric: str) -> int | None:
    """The rank a metric reads down to: k of "metric@k", None (the whole run) for "map"."""
    _, at, cutoff = metric.partition("@")
    return int(cutoff) if at else None


def cut_metrics(top_k: int, pool_size: int, metrics: Iterable[str] = METRICS) -> list[str]:
    """The metrics a run of depth `top_k` over a pool of `pool_size` documents cuts short.

    A metric@k needs the top min(k, pool) documents; "map" (full average precision) needs
    the whole pool ranked.  A run that holds the whole pool cuts nothing.
    """
    return [
        metric
        for metric in metrics
        if min(metric_cutoff(metric) or pool_size, pool_size) > top_k
    ]


def run_coverage(run: pl.DataFrame, per_unit: pl.DataFrame) -> dict[str, int]:
    """How many of the evaluated queries (those of `per_unit`, `evaluate_run`'s output) the
    run left empty, and how many it retrieved none of their relevant documents for (the
    empty ones included): both score 0 on every metric.

    Keys: queries, units, empty_run, no_relevant_retrieved, deepest (the most documents
    the run holds for one evaluated query).
    """
    evaluated = per_unit.select("query_id").unique()
    lengths = run.join(evaluated, on="query_id", how="semi").group_by("query_id").len()
    # "map" is positive exactly when some relevant document is anywhere in the run.
    missed = (
        per_unit.filter(pl.col("metric") == "map")
        .group_by("query_id")
        .agg(pl.col("value").max())
        .filter(pl.col("value") == 0)
    )
    return {
        "queries": evaluated.height,
        "units": per_unit.select(UNIT_KEYS).unique().height,
        "empty_run": evaluated.height - lengths.height,
        "no_relevant_retrieved": missed.height,
        "deepest": int(lengths.select(pl.col("len").max().fill_null(0)).item()),
    }


def coverage_table(runs: Sequence[tuple[str, str, str]], files: Sequence[Path]) -> pl.DataFrame:
    """The runs' coverage JSON files (`run_coverage`'s counts), one row each, labelled with
    `runs[i]` = (dataset, condition, system) of file i: run_coverage.csv."""
    if len(runs) != len(files):
        raise ValueError(f"{len(runs)} run labels for {len(files)} coverage files")
    rows = []
    for labels, path in zip(runs, files, strict=True):
        with reading(path):
            counts = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [key for key in COUNTS if key not in counts]
        if missing:
            raise ValueError(f"{path}: no {', '.join(missing)}; rerun its evaluate_run job")
        rows.append((*labels, *(int(counts[key]) for key in COUNTS)))
    schema = {name: pl.Int64 if name in COUNTS else pl.String for name in COVERAGE_COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row")


def read_coverage(path: Path) -> pl.DataFrame:
    """run_coverage.csv as `coverage_table` made it: labels as text, counts as integers."""
    with reading(path):
        table = pl.read_csv(path, infer_schema=False)
    missing = [name for name in COVERAGE_COLUMNS if name not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(missing)} (written by an older version); "
            "rerun the summarise_metrics rule"
        )
    return table.with_columns(pl.col(COUNTS).cast(pl.Int64))
