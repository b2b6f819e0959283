"""The evaluation protocol note and the table of every metric, per dataset.

Numbers compare only under the same protocol, and three choices change them a lot: what one
score is about (a (query, document language) pair, the paper's, or a query against all its
relevant documents: nDCG@10 can differ by a factor of two on a collection whose queries
have relevant documents in several languages), how deep the run is (a metric reading below
`retrieval.top_k` is cut, and full average precision needs the whole pool ranked), and what
an empty run counts (0 here, as `trec_eval -c`; pytrec_eval leaves such queries out). The
note states all three for this run, with the metrics the depth cuts per dataset and the
number of queries the runs left empty; the tables beside it show every metric of
summary.csv (Table 3 keeps the paper's three), so a reader can compare with whichever
figure another paper reports.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from clirbench.evaluate.coverage import cut_metrics
from clirbench.evaluate.dataset_counts import DatasetStatistics
from clirbench.evaluate.metrics import ALL, METRICS, MULTIPLE, QUERY, QUERY_DOC_LANGUAGE
from clirbench.report.common import Cell, conditions, ordered, value_lookup
from clirbench.report.table3 import mark_best

METRIC_LABELS = {
    "recall@100": "R@100", "recall@10": "R@10", "recall@1": "R@1", "ndcg@100": "nDCG@100",
    "ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "map@100": "MAP@100", "map": "MAP", "p@1": "P@1",
}  # fmt: skip
UNIT_LABELS = {
    QUERY_DOC_LANGUAGE: "(query, document language) pairs",
    QUERY: "queries",
}
RUNS_NAMED = 8  # runs with empty queries named one by one; the rest counted


@dataclass(frozen=True)
class MetricsTable:
    """One dataset's table: per condition, its systems' rows of cells in `metrics` order."""

    dataset: str
    pool: str  # documents in the pool, "" when unknown
    grouped: bool  # queries search per candidate group: `pool` is the largest group's
    metrics: list[tuple[str, str, bool]]  # (metric, label, cut by the run depth)
    cut: list[str]  # labels of the cut metrics
    blocks: list[tuple[str, list[tuple[str, list[Cell]]]]]  # condition -> (system, cells)


def evaluation_section(
    summary: pl.DataFrame,
    evaluation: Mapping[str, Any],
    statistics: Sequence[DatasetStatistics] = (),
    coverage: pl.DataFrame | None = None,
    sampled: Collection[str] = (),
) -> dict[str, Any]:
    """The section's context. `evaluation`: the study's unit and top_k (the report rule's
    metadata; the unit defaults to evaluate_run's, a missing top_k leaves the depth
    unsaid); `statistics`: the datasets' counts (their pool sizes); `coverage`:
    run_coverage.csv; `sampled`: systems scored on a sample of the queries (never bold)."""
    unit = str(evaluation.get("unit") or QUERY_DOC_LANGUAGE)
    if unit not in UNIT_LABELS:
        raise ValueError(f"evaluation.unit: {unit!r} is not one of {', '.join(UNIT_LABELS)}")
    top_k = evaluation.get("top_k")
    # A dataset searched per candidate group: a query's pool is its group, and a run is cut
    # where it is shorter than the largest group's.
    pools = {stats.name: stats.searched_pool for stats in statistics}
    grouped = {s.name for s in statistics if getattr(s, "candidate_groups", None) is not None}
    tables = [
        metrics_table(
            summary.filter(pl.col("dataset") == dataset),
            None if top_k is None else int(top_k),
            pools.get(dataset),
            sampled,
            grouped=dataset in grouped,
        )
        for dataset in ordered(summary["dataset"])
    ]
    return {
        "unit": unit,
        "unit_label": UNIT_LABELS[unit],
        "per_query": unit == QUERY,
        "multiple": MULTIPLE,
        "multiple_used": bool(
            summary.filter((pl.col("doc_lang") == MULTIPLE) & (pl.col("query_lang") != ALL)).height
        ),
        "top_k": top_k,
        "tables": tables,
        "coverage": coverage_notes(coverage),
        "sampled": sorted(set(sampled) & set(summary["system"])),
    }


def metrics_table(
    summary: pl.DataFrame,
    top_k: int | None,
    pool: int | None,
    sampled: Collection[str] = (),
    grouped: bool = False,
) -> MetricsTable:
    """Every metric's macro average of one dataset: rows condition × system, the best of
    each condition and metric in bold (systems of `sampled` excepted)."""
    macro = summary.filter((pl.col("query_lang") == ALL) & (pl.col("doc_lang") == ALL))
    present = set(macro["metric"])
    metrics = [m for m in METRICS if m in present]
    metrics += sorted(present - set(METRICS))  # a summary of a newer version: shown too
    # An unknown pool: no run holds all of it for certain, so full AP counts as cut.
    cut = set() if top_k is None else set(cut_metrics(top_k, pool or top_k + 1, metrics))
    lookup = value_lookup(macro, ["condition", "system", "metric"])
    blocks = []
    for condition in conditions(macro):
        systems = ordered(macro.filter(pl.col("condition") == condition)["system"])
        values = [[lookup.get((condition, s, m)) for m in metrics] for s in systems]
        cells = mark_best(values, [s not in sampled for s in systems])
        blocks.append((condition, list(zip(systems, cells, strict=True))))
    return MetricsTable(
        dataset=str(summary["dataset"][0]) if summary.height else "",
        pool="" if pool is None else f"{pool:,}",
        grouped=grouped,
        metrics=[(m, METRIC_LABELS.get(m, m), m in cut) for m in metrics],
        cut=[METRIC_LABELS.get(m, m) for m in metrics if m in cut],
        blocks=blocks,
    )


def coverage_notes(coverage: pl.DataFrame | None) -> dict[str, Any] | None:
    """What the runs left empty: totals over the runs, and the runs with empty queries
    (the first RUNS_NAMED named, "dataset/condition/system: k of n"); None without the table."""
    if coverage is None:
        return None
    empty = coverage.filter(pl.col("empty_run") > 0).sort("dataset", "condition", "system")
    named = [
        f"{row['system']} on {row['dataset']}/{row['condition']}: "
        f"{row['empty_run']:,} of {row['queries']:,}"
        for row in empty.head(RUNS_NAMED).iter_rows(named=True)
    ]
    return {
        "runs": coverage.height,
        "queries": int(coverage["queries"].sum()),
        "empty": int(coverage["empty_run"].sum()),
        "missed": int(coverage["no_relevant_retrieved"].sum()),
        "empty_runs": empty.height,
        "named": named,
        "more": max(empty.height - RUNS_NAMED, 0),
    }
