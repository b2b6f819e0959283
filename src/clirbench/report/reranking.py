"""The re-ranking section: the paper's Table 6 and the re-rankers' training curves.

Table 6 sets each re-ranked system beside its first stage, Recall@10 and nDCG@100 (macro
averages over language pairs), both computed on the same queries: the re-ranked ones
(every evaluated query, or a sample when `stages.reranking.queries_per_language` limits
them), from the per-query metrics of both runs. Rows of the paper's injected variant are
labelled, with how many relevant documents were put into the candidates: they show what
the cross-encoder does when the first stage cannot fail, not what a pipeline reaches.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.intermediate import read_parquet
from clirbench.evaluate.metrics import ALL, summarise_pairs
from clirbench.report.common import MISSING, format_value, significance_lookup
from clirbench.report.fine_tuning import training_curves_png

TABLE_METRICS = ("recall@10", "ndcg@100")  # the paper's Table 6


def macro_on_queries(per_query: pl.DataFrame, query_ids: pl.Series) -> dict[str, float]:
    """Macro averages over language pairs of a run's per-query metrics, on `query_ids` only
    (the same aggregation as summary.csv)."""
    kept = per_query.filter(pl.col("query_id").is_in(query_ids.implode()))
    summary = summarise_pairs(kept).filter(pl.col("query_lang") == ALL)
    return dict(summary.select("metric", "value").iter_rows())


def reranking_section(
    records: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    significance: pl.DataFrame | None = None,
) -> dict[str, Any] | None:
    """The section's context, or None without re-rankers.

    With the analyses' `significance` table, a change not significant against the first
    stage on the same queries (paired randomisation test, Holm-corrected) is marked.
    `runs`: per re-ranked run, its labels (dataset, condition, system, first_stage,
    reranker, negatives, injected) and the paths `metrics`, `first_stage_metrics`,
    `queries` (the re-ranked queries) and `injected_table` (the injected documents).
    `settings`: the stage's depth and queries_per_language.
    """
    if not records:
        return None
    verdicts = significance_lookup(significance)
    rows = []
    for run in runs:
        queries = read_parquet(Path(run["queries"]), columns=["query_id"])["query_id"]
        reranked = macro_on_queries(read_parquet(Path(run["metrics"])), queries)
        first = macro_on_queries(read_parquet(Path(run["first_stage_metrics"])), queries)
        injected = read_parquet(Path(run["injected_table"]))
        rows.append(
            {
                **{key: run[key] for key in ("dataset", "condition", "system", "first_stage",
                                             "reranker", "negatives", "injected")},
                "queries": queries.len(),
                "injected_documents": injected.height,
                "cells": [
                    {
                        "metric": metric,
                        "first": format_value(first.get(metric)),
                        "reranked": format_value(reranked.get(metric)),
                        "delta": _delta(first.get(metric), reranked.get(metric)),
                        "significant": verdicts.get(
                            (run["dataset"], run["condition"], metric, run["system"],
                             run["first_stage"])
                        ),  # fmt: skip
                    }
                    for metric in TABLE_METRICS
                ],
            }
        )
    return {
        "metrics": TABLE_METRICS,
        "rows": rows,
        "tested": bool(verdicts),
        "depth": settings["depth"],
        "queries_per_language": settings.get("queries_per_language"),
        "models": [_model_row(record) for record in records],
        "curves": _curves(records),
        "figure": base64.b64encode(training_curves_png(records)).decode("ascii"),
    }


def _delta(first: float | None, reranked: float | None) -> str:
    if first is None or reranked is None:
        return ""
    return f"{reranked - first:+.3f}"


def _model_row(record: Mapping[str, Any]) -> dict[str, Any]:
    settings = record["settings"]
    negatives = record["negatives"]
    if record.get("hard_negatives_from"):
        negatives += f" (from {record['hard_negatives_from']})"
    return {
        "name": record["name"],
        "dataset": record["dataset"],
        "base": record["base"]["model"],
        "negatives": f"{negatives}, {record['negatives_per_positive']} per positive",
        "pairs": f"{record['train_pairs']:,} / {record['validation_pairs']:,}",
        "epoch": f"{record['chosen_epoch']} of {len(record['epochs'])} (at most "
        f"{settings['max_epochs']})",
        "settings": (
            f"AdamW, lr {settings['learning_rate']:g}, {settings['scheduler']} schedule, "
            f"warm-up {settings['warmup_ratio']:g}, batch {settings['batch_size']}, max length "
            f"{settings['max_length']}, seed {settings['seed']}, {settings['device']}"
        ),
    }


def _curves(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "model": record["name"],
            "dataset": record["dataset"],
            "epoch": epoch["epoch"],
            "train_loss": _number(epoch.get("train_loss")),
            "validation_loss": _number(epoch.get("validation_loss")),
            "chosen": epoch["epoch"] == record["chosen_epoch"],
        }
        for record in records
        for epoch in record["epochs"]
    ]


def _number(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"
