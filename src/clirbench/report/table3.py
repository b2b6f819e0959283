"""Table 3 of the paper: the macro average per system, dataset, condition and metric.

It is the page's headline, the one table to compare with the paper: every system in a row,
and per dataset and document condition the macro-averaged Recall@100, Recall@10 and
nDCG@100 (every language pair weighted equally). The best value of each column is bold, so
the winner per setting can be read off at a glance. Systems scored on a sample of the
queries (re-ranked runs in a time budget) do not compete for it: 1.000 on 64 sampled
queries is no win over 0.800 on all of them. A system evaluated on a language it was not
trained on is marked † (`clirbench.report.language_coverage`): its macro averages include
zero-shot pairs, which a reader comparing systems must know.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

import polars as pl

from clirbench.evaluate.metrics import ALL
from clirbench.report.common import DECIMALS, Cell, conditions, format_value, ordered, value_lookup
from clirbench.report.language_coverage import LanguageCoverage, mark_title

TABLE_METRICS = (("recall@100", "R@100"), ("recall@10", "R@10"), ("ndcg@100", "nDCG@100"))


def table3(
    summary: pl.DataFrame,
    significance: pl.DataFrame | None = None,
    intervals: pl.DataFrame | None = None,
    sampled: Collection[str] = (),
    coverage: LanguageCoverage | None = None,
) -> dict[str, Any]:
    """The paper's Table 3: rows systems, columns dataset × condition × metric, macro values.

    With the analyses' tables, each value tested carries its bootstrap interval, its number
    of evaluation units where the column's systems differ in it (re-ranked samples), and a
    mark when its difference from the column's best system is not significant. The systems
    of `sampled` were scored on a sample of the queries: never bold. With `coverage`, each
    system evaluated on a language outside its training languages gets a mark (`uncovered`:
    system -> the mark's hover text)."""
    macro = summary.filter((pl.col("query_lang") == ALL) & (pl.col("doc_lang") == ALL))
    datasets = ordered(summary["dataset"])
    per_dataset = {d: conditions(summary.filter(pl.col("dataset") == d)) for d in datasets}
    columns = [
        (dataset, condition, metric)
        for dataset in datasets
        for condition in per_dataset[dataset]
        for metric, _ in TABLE_METRICS
    ]
    systems = ordered(summary["system"])
    lookup = value_lookup(macro, ["dataset", "condition", "system", "metric"])
    values = [[lookup.get((d, c, s, m)) for d, c, m in columns] for s in systems]
    return {
        "datasets": [(d, len(per_dataset[d]) * len(TABLE_METRICS)) for d in datasets],
        "conditions": [(c, len(TABLE_METRICS)) for d in datasets for c in per_dataset[d]],
        "metrics": [dict(TABLE_METRICS)[metric] for _, _, metric in columns],
        "columns": columns,
        "rows": list(
            zip(
                systems,
                annotate(
                    mark_best(values, [s not in sampled for s in systems]),
                    systems, columns, significance, intervals,
                ),
                strict=True,
            )  # fmt: skip
        ),
        "annotated": intervals is not None,
        "sampled": [s for s in systems if s in sampled],
        "uncovered": {
            system: mark_title(languages)
            for system, languages in (coverage or LanguageCoverage()).uncovered_by_system(
                summary
            ).items()
        },
    }


def annotate(
    rows: list[list[Cell]],
    systems: list[str],
    columns: list[tuple[str, str, str]],
    significance: pl.DataFrame | None,
    intervals: pl.DataFrame | None,
) -> list[list[Cell]]:
    """`rows` with the analyses' interval, unit count and not-significant mark per cell."""
    if intervals is None or significance is None:
        return rows
    keys = ["dataset", "condition", "system", "metric"]
    bounds = {
        tuple(row[key] for key in keys): row for row in intervals.iter_rows(named=True)
    }
    untested_best = {
        (row["dataset"], row["condition"], row["system"], row["metric"])
        for row in significance.filter(
            (pl.col("relation") == "best system") & ~pl.col("significant")
        ).iter_rows(named=True)
    }
    usual_units = {
        (d, c, m): intervals.filter(
            (pl.col("dataset") == d) & (pl.col("condition") == c) & (pl.col("metric") == m)
        )["n_units"].max()
        for d, c, m in columns
    }
    annotated = []
    for system, cells in zip(systems, rows, strict=True):
        row = []
        for cell, (dataset, condition, metric) in zip(cells, columns, strict=True):
            found = bounds.get((dataset, condition, system, metric))
            if found is None:
                row.append(cell)
                continue
            units = found["n_units"]
            row.append(
                replace(
                    cell,
                    interval=f"{format_value(found['low'])}–{format_value(found['high'])}",
                    units="" if units == usual_units[(dataset, condition, metric)] else f"{units:,}",
                    tied_with_best=(dataset, condition, system, metric) in untested_best,
                )
            )
        annotated.append(row)
    return annotated


def mark_best(
    values: list[list[float | None]], competing: Sequence[bool] | None = None
) -> list[list[Cell]]:
    """Format values; bold the best of each column (all systems tied at the shown precision)
    among the rows that compete (`competing`, one flag per row; default all)."""
    rounded = [[None if v is None else round(v, DECIMALS) for v in row] for row in values]
    competes = list(competing) if competing is not None else [True] * len(rounded)
    contenders = [row for row, flag in zip(rounded, competes, strict=True) if flag]
    best = [_maximum(column) for column in zip(*contenders, strict=True)] if contenders else []
    return [
        [
            Cell(format_value(v), best=flag and v is not None and v == top)
            for v, top in zip(row, best or [None] * len(row), strict=True)
        ]
        for row, flag in zip(rounded, competes, strict=True)
    ]


def _maximum(column: Iterable[float | None]) -> float | None:
    return max((value for value in column if value is not None), default=None)
