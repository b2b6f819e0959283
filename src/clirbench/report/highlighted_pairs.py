"""The highlighted language pairs: per-pair results for the pairs the study singles out.

Macro averages hide how a system does on a particular pair (a low-resource query language,
a different script). The configuration names a few pairs; for each dataset that has any of
them, a table shows Recall@100 and nDCG@100 per system and condition, so the pairs can be
compared across systems and across original and English documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from clirbench.report.common import Cell, conditions, format_value, ordered, value_lookup

PAIR_METRICS = (("recall@100", "R@100"), ("ndcg@100", "nDCG@100"))


def highlighted_pair_tables(
    summary: pl.DataFrame, highlighted_pairs: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Per dataset with any of the pairs: rows system × condition, R@100 and nDCG@100 per pair."""
    if not highlighted_pairs:
        return []
    lookup = value_lookup(
        summary, ["dataset", "system", "condition", "query_lang", "doc_lang", "metric"]
    )
    wanted = set(highlighted_pairs)
    tables = []
    for dataset in ordered(summary["dataset"]):
        in_dataset = summary.filter(pl.col("dataset") == dataset)
        present = set(in_dataset.select("query_lang", "doc_lang").unique().iter_rows())
        if not wanted & present:
            continue  # a dataset without any of the pairs would be a table of dashes
        rows = [
            (
                system,
                condition,
                [
                    Cell(format_value(lookup.get((dataset, system, condition, q, d, metric))))
                    for q, d in highlighted_pairs
                    for metric, _ in PAIR_METRICS
                ],
            )
            for system in ordered(in_dataset["system"])
            for condition in conditions(in_dataset)
        ]
        tables.append({"dataset": dataset, "rows": rows})
    return tables


def pair_labels(highlighted_pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Column headings: query language → document language."""
    return [f"{query} → {doc}" for query, doc in highlighted_pairs]


def metric_labels() -> list[str]:
    return [label for _, label in PAIR_METRICS]
