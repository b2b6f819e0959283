"""The analyses section: which differences are significant, whose language each system
retrieves, and whether results follow linguistic similarity.

- Significance: per dataset, condition and metric, every comparison the analysis made (each
  system against the best system and each BM25 baseline, a re-ranked system against its
  first stage on the queries it re-ranked) with the macro-average difference, both tests'
  Holm-adjusted p-values and the number of evaluation units; then every system's macro
  average with its bootstrap interval.
- Language bias (the paper's Figures 6 and 8): the share of the top 1 and top 10 written in
  the query's language, and for queries whose relevant documents are in other languages,
  how the top 10 split by role against uniform retrieval, with a figure; Figure 6 sets each
  fine-tuned encoder's own-language share per query language beside its base encoder's.
- Linguistic similarity (Table 8): Spearman's rho (p-value, pairs) of each lang2vec view
  against each system's per-pair metric, and the views' own correlation matrix.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.analyse.feature_sets import FEATURE_SETS
from clirbench.core.intermediate import read_parquet
from clirbench.core.systems import condition_sort_key
from clirbench.report.common import MISSING, condition_label, format_value, png_bytes

METRIC_LABELS = {
    "recall@100": "Recall@100",
    "recall@10": "Recall@10",
    "ndcg@100": "nDCG@100",
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "map@100": "MAP@100",
    "map": "MAP",
    "p@1": "P@1",
    "recall@1": "Recall@1",
}


def read_tables(paths: Sequence[Path]) -> pl.DataFrame | None:
    """The analysis files of one kind stacked (each carries its dataset and condition)."""
    if not paths:
        return None
    return pl.concat([read_parquet(Path(path)) for path in paths], how="diagonal_relaxed")


def analyses_section(
    significance: pl.DataFrame | None,
    intervals: pl.DataFrame | None,
    own_language: pl.DataFrame | None,
    roles: pl.DataFrame | None,
    correlations: pl.DataFrame | None,
    feature_sets: pl.DataFrame | None,
    settings: Mapping[str, Any],
    bases: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The section's context, or None when the analyses did not run. `bases`: fine-tuned
    system -> its base encoder (Figure 6 sets them side by side)."""
    if significance is None and own_language is None and correlations is None:
        return None
    return {
        "alpha": settings.get("alpha"),
        "confidence": settings.get("confidence"),
        "permutations": settings.get("permutations"),
        "bootstrap_resamples": settings.get("bootstrap_resamples"),
        "significance": _significance_tables(significance, intervals),
        "bias": _bias_tables(own_language, roles),
        "bias_figure": _bias_figure(roles) if roles is not None else None,
        "fine_tuning_bias_figure": (
            fine_tuning_bias_figure(own_language, bases) if own_language is not None and bases
            else None
        ),
        "similarity": _similarity_table(correlations),
        "feature_sets": _matrix(feature_sets),
    }


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _significance_tables(
    significance: pl.DataFrame | None, intervals: pl.DataFrame | None
) -> list[dict[str, Any]]:
    if significance is None or intervals is None:
        return []
    tables = []
    keys = ["dataset", "condition", "metric"]
    for (dataset, condition, metric), family in significance.group_by(keys, maintain_order=True):
        bounds = intervals.filter(
            (pl.col("dataset") == dataset)
            & (pl.col("condition") == condition)
            & (pl.col("metric") == metric)
        )
        tables.append(
            {
                "dataset": dataset,
                "condition": condition,
                "metric": METRIC_LABELS.get(str(metric), metric),
                "comparisons": [
                    {
                        "system": row["system"],
                        "reference": row["reference"],
                        "relation": row["relation"],
                        "difference": f"{row['difference']:+.3f}",
                        "units": f"{row['n_units']:,}",
                        "pairs": row["n_pairs"],
                        "p_randomisation": _p(row["p_randomisation_holm"]),
                        "p_t_test": _p(row["p_t_test_holm"]),
                        "significant": bool(row["significant"]),
                    }
                    for row in family.iter_rows(named=True)
                ],
                "intervals": [
                    {
                        "system": row["system"],
                        "value": format_value(row["value"]),
                        "interval": f"{format_value(row['low'])}–{format_value(row['high'])}",
                        "units": f"{row['n_units']:,}",
                        "pairs": row["n_pairs"],
                    }
                    # Systems on every query first, those on a sample (re-ranked) after.
                    for row in bounds.sort(["n_units", "value"], descending=True).iter_rows(
                        named=True
                    )
                ],
            }
        )
    return tables


def _bias_tables(
    own_language: pl.DataFrame | None, roles: pl.DataFrame | None
) -> list[dict[str, Any]]:
    if own_language is None or roles is None:
        return []
    tables = []
    overall = own_language.filter(pl.col("query_lang") == "all")
    for (dataset, condition), shares in overall.group_by(
        ["dataset", "condition"], maintain_order=True
    ):
        by_role = roles.filter((pl.col("dataset") == dataset) & (pl.col("condition") == condition))
        uniform = dict(by_role.group_by("role").agg(pl.col("uniform_share").first()).iter_rows())
        rows = []
        for system in shares["system"].unique(maintain_order=True).to_list():
            own = dict(shares.filter(pl.col("system") == system).select("depth", "share").iter_rows())
            role_share = dict(
                by_role.filter(pl.col("system") == system).select("role", "share").iter_rows()
            )
            counts = by_role.filter(pl.col("system") == system)["n_queries"]
            rows.append(
                {
                    "system": system,
                    "top1": format_value(own.get(1)),
                    "top10": format_value(own.get(10)),
                    "query_language": format_value(role_share.get("query language")),
                    "relevant_language": format_value(role_share.get("relevant language")),
                    "other": format_value(role_share.get("other")),
                    "queries": _count(counts),
                }
            )
        tables.append(
            {
                "dataset": dataset,
                "condition": condition,
                "queries": _count(shares["n_queries"]),
                "uniform": {role: format_value(value) for role, value in uniform.items()},
                "rows": rows,
            }
        )
    return tables


def _count(counts: pl.Series) -> str:
    """The largest count of a column, with thousands separators (a dash when empty)."""
    return MISSING if counts.is_empty() else f"{max(counts.cast(pl.Int64).to_list()):,}"


def _bias_figure(roles: pl.DataFrame) -> str | None:
    """Stacked bars per system: the top 10's split by role, the uniform split beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = roles.select("dataset", "condition").unique(maintain_order=True).rows()
    if not units:
        return None
    colours = {"query language": "#d95f02", "relevant language": "#1b9e77", "other": "#7570b3"}
    figure, axes = plt.subplots(
        len(units), 1, figsize=(10, 0.45 * roles["system"].n_unique() + 1.8), squeeze=False
    )
    for axis, (dataset, condition) in zip(axes[:, 0], units, strict=True):
        unit = roles.filter((pl.col("dataset") == dataset) & (pl.col("condition") == condition))
        systems = unit["system"].unique(maintain_order=True).to_list()
        uniform = dict(unit.group_by("role").agg(pl.col("uniform_share").first()).iter_rows())
        labels = ["uniform", *systems]
        left = [0.0] * len(labels)
        for role, colour in colours.items():
            widths = [uniform.get(role, 0.0)] + [
                (unit.filter((pl.col("system") == s) & (pl.col("role") == role))["share"].sum())
                for s in systems
            ]
            axis.barh(labels, widths, left=left, color=colour, label=role)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_xlabel("share of the top 10")
        axis.set_title(f"{dataset}, {condition_label(condition)}", fontsize=10, pad=22)
        # Above the bars, so it hides none of them.
        axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    png = png_bytes(figure, dpi=110)
    plt.close(figure)
    return base64.b64encode(png).decode("ascii")


def fine_tuning_bias_figure(own_language: pl.DataFrame, bases: Mapping[str, str]) -> str | None:
    """Figure 6: per query language, the top 10's share in the query's language of each base
    encoder beside its fine-tuned versions (one panel per dataset, condition and base)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top10 = own_language.filter((pl.col("depth") == 10) & (pl.col("query_lang") != "all"))
    present = set(top10["system"])
    families = {
        base: sorted(tuned for tuned, of in bases.items() if of == base and tuned in present)
        for base in sorted(set(bases.values()))
        if base in present
    }
    panels = [
        (dataset, condition, base, tuned)
        for dataset, condition in top10.select("dataset", "condition").unique(maintain_order=True).rows()
        for base, tuned in families.items()
        if tuned
    ]
    if not panels:
        return None
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 2.8 * len(panels)), squeeze=False)
    for axis, (dataset, condition, base, tuned) in zip(axes[:, 0], panels, strict=True):
        unit = top10.filter((pl.col("dataset") == dataset) & (pl.col("condition") == condition))
        languages = sorted(set(unit["query_lang"]))
        systems = [base, *tuned]
        width = 0.8 / len(systems)
        for index, system in enumerate(systems):
            shares = dict(unit.filter(pl.col("system") == system).select("query_lang", "share").iter_rows())
            axis.bar(
                [position + index * width for position in range(len(languages))],
                [shares.get(language, math.nan) for language in languages],
                width=width,
                label=f"{system} (base)" if system == base else system,
            )
        axis.set_xticks([position + 0.4 - width / 2 for position in range(len(languages))], languages)
        axis.set_ylim(0, 1)
        axis.set_ylabel("top 10 in query language")
        axis.set_xlabel("query language")
        axis.set_title(f"{dataset}, {condition_label(condition)}: {base} before and after fine-tuning", fontsize=10)
        axis.legend(fontsize=8, frameon=False, ncol=len(systems))
    figure.tight_layout()
    png = png_bytes(figure, dpi=100)
    plt.close(figure)
    return base64.b64encode(png).decode("ascii")


def _similarity_table(correlations: pl.DataFrame | None) -> dict[str, Any] | None:
    if correlations is None or correlations.is_empty():
        return None
    order = list(FEATURE_SETS)
    sets = sorted(
        correlations["feature_set"].unique().to_list(),
        key=lambda name: (order.index(name) if name in order else len(order), name),
    )
    rows = []
    groups = correlations.group_by(["dataset", "condition", "system"], maintain_order=True)
    # Conditions in the report's order (original, reference English, translations).
    for (dataset, condition, system), group in sorted(
        groups, key=lambda item: (item[0][0], condition_sort_key(str(item[0][1])), item[0][2])
    ):
        by_set = {row["feature_set"]: row for row in group.iter_rows(named=True)}
        rows.append(
            {
                "dataset": dataset,
                "condition": condition,
                "system": system,
                "cells": [
                    {
                        "rho": format_value(by_set[name]["rho"]) if name in by_set else MISSING,
                        "p": _p(by_set[name]["p_value"]) if name in by_set else MISSING,
                        "pairs": by_set[name]["n_pairs"] if name in by_set else 0,
                    }
                    for name in sets
                ],
            }
        )
    return {"sets": [FEATURE_SETS.get(name, name) for name in sets], "rows": rows}


def _matrix(feature_sets: pl.DataFrame | None) -> dict[str, Any] | None:
    if feature_sets is None or feature_sets.is_empty():
        return None
    names = feature_sets["feature_set"].to_list()
    return {
        "sets": [FEATURE_SETS.get(name, name) for name in names],
        "rows": [
            {
                "set": FEATURE_SETS.get(name, name),
                "values": [format_value(row[other]) for other in names],
            }
            for name, row in zip(names, feature_sets.iter_rows(named=True), strict=True)
        ],
    }
