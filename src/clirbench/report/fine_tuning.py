"""The fine-tuning section: the paper's Table 4 and the training curves.

Table 4 sets each base encoder's Recall@100 (macro over language pairs, original
documents) beside its fine-tuned versions at each level, per dataset: none / word / phrase /
query-document. The curves show, per trained model, the mean training loss and the
validation score after every epoch, and which epoch was kept (the best validation score),
so a reader sees whether training converged, overfitted or was cut short by the epoch
budget. Everything comes from the training records (`clirbench.finetune.train`) and
summary.csv.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.intermediate import reading
from clirbench.core.systems import ORIGINAL
from clirbench.report.common import (
    MISSING,
    SignificanceLookup,
    format_value,
    png_bytes,
    significance_lookup,
)

LEVELS = ("word", "phrase", "query-document")
TABLE_METRIC = "recall@100"
LEVEL_LABELS = {"word": "Word", "phrase": "Phrase", "query-document": "QD"}
SOURCE_LABELS = {
    "training-split": "the dataset's training queries and their relevant documents",
    "parallel-queries": "training-split queries in two languages sharing their relevant "
    "document (for the CLDR cards: an entity's localised names)",
    "tatoeba": "LASER Tatoeba sentence pairs (X–English)",
}


def read_training_record(path: Path) -> dict[str, Any]:
    with reading(path):
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))


def fine_tuning_section(
    records: Sequence[Mapping[str, Any]],
    summary: pl.DataFrame,
    significance: pl.DataFrame | None = None,
) -> dict[str, Any] | None:
    """The section's context, or None without fine-tuned models. With the analyses'
    `significance` table, a fine-tuned value not significantly different from its base
    encoder's (paired randomisation test, Holm-corrected) is marked."""
    if not records:
        return None
    models = _models(records)
    condition = ORIGINAL if ORIGINAL in set(summary["condition"]) else summary["condition"][0]
    macro = summary.filter(
        (pl.col("condition") == condition)
        & (pl.col("metric") == TABLE_METRIC)
        & (pl.col("query_lang") == "all")
    )
    values = {(d, s): v for d, s, v in macro.select("dataset", "system", "value").iter_rows()}
    verdicts = significance_lookup(significance)
    datasets = sorted({d for d, _ in values})
    rows = []
    for base in sorted({model["base"] for model in models.values()}):
        cells = []
        for dataset in datasets:
            cells.append(
                {"dataset": dataset, "level": "none", "systems": [base],
                 "values": _values(values, dataset, [base], base, condition, verdicts)}
            )  # fmt: skip
            for level in LEVELS:
                names = sorted(n for n, m in models.items() if m["base"] == base and m["level"] == level)
                cells.append({"dataset": dataset, "level": level, "systems": names,
                              "values": _values(values, dataset, names, base, condition, verdicts)})
        rows.append({"base": base, "cells": cells})
    return {
        "metric": TABLE_METRIC,
        "condition": condition,
        "datasets": datasets,
        "levels": [("none", "None")] + [(level, LEVEL_LABELS[level]) for level in LEVELS],
        "rows": rows,
        "tested": bool(verdicts),
        "models": [_model_row(name, model) for name, model in models.items()],
        "curves": _curves(records),
        "figure": base64.b64encode(training_curves_png(records)).decode("ascii"),
    }


def _models(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = models.setdefault(
            record["name"],
            {
                "base": record["base"]["name"],
                "level": record["level"],
                "source": record.get("source", ""),
                "settings": record["settings"],
                "scopes": [],
            },
        )
        entry["scopes"].append(record)
    return dict(sorted(models.items()))


def _values(
    values: Mapping[tuple[str, str], float],
    dataset: str,
    systems: Sequence[str],
    base: str,
    condition: str,
    verdicts: SignificanceLookup,
) -> list[dict[str, Any]]:
    """A cell's values as shown, each with whether it differs significantly from the base
    encoder's (None: not tested, or the base itself)."""
    return [
        {
            "text": format_value(values[(dataset, system)]),
            "significant": (
                None
                if system == base
                else verdicts.get((dataset, condition, TABLE_METRIC, system, base))
            ),
        }
        for system in systems
        if (dataset, system) in values
    ]


def _model_row(name: str, model: Mapping[str, Any]) -> dict[str, Any]:
    settings = model["settings"]
    scopes = model["scopes"]
    return {
        "name": name,
        "base": model["base"],
        "level": LEVEL_LABELS[model["level"]],
        "source": SOURCE_LABELS.get(model["source"], model["source"]),
        "pairs": ", ".join(f"{r['scope']}: {r['train_pairs']:,}" for r in scopes),
        "epochs": ", ".join(
            f"{r['scope']}: {r['chosen_epoch']} of {len(r['epochs'])}" for r in scopes
        ),
        "max_epochs": settings["max_epochs"],
        "settings": (
            f"{settings['optimizer']}, lr {settings['learning_rate']:g}, batch "
            f"{settings['batch_size']}, τ {settings['temperature']:g}, max length "
            f"{settings['max_length'][model['level']]}, seed {settings['seed']}, "
            f"{settings['device']}"
        ),
        "selected_by": scopes[0]["selected_by"],
    }


def _curves(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        metric = record["selected_by"]
        for epoch in record["epochs"]:
            rows.append(
                {
                    "model": record["name"],
                    "scope": record["scope"],
                    "epoch": epoch["epoch"],
                    "loss": _number(epoch.get("train_loss"), 4),
                    "score": _number(epoch.get(metric), 4),
                    "metric": metric,
                    "chosen": epoch["epoch"] == record["chosen_epoch"],
                }
            )
    return rows


def _number(value: float | None, decimals: int) -> str:
    return MISSING if value is None else f"{value:.{decimals}f}"


def training_curves_png(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The training loss by epoch (a line per model and scope), then a panel per validation
    metric (their scales differ: a sum of two recalls, an nDCG), the kept epoch circled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = list(dict.fromkeys(record["selected_by"] for record in records))
    figure = Figure(figsize=(3.7 * (1 + len(metrics)), 3.6), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 1 + len(metrics), squeeze=False)[0]
    loss_axes, metric_axes = axes[0], dict(zip(metrics, axes[1:], strict=True))
    for record in records:
        label = f"{record['name']} ({record['scope']})"
        epochs = [e["epoch"] for e in record["epochs"]]
        losses = [e.get("train_loss") for e in record["epochs"]]
        scores = [e.get(record["selected_by"]) for e in record["epochs"]]
        (line,) = loss_axes.plot(epochs, losses, marker="o", label=label)
        score_axes = metric_axes[record["selected_by"]]
        score_axes.plot(epochs, scores, marker="o", color=line.get_color(), label=label)
        if record["chosen_epoch"] in epochs:
            chosen = epochs.index(record["chosen_epoch"])
            score_axes.plot(
                [epochs[chosen]], [scores[chosen]], marker="o", markersize=13,
                markerfacecolor="none", color=line.get_color(),
            )  # fmt: skip
    loss_axes.set(xlabel="epoch", ylabel="mean training loss", title="Training loss")
    loss_axes.legend(fontsize=8, loc="best")
    for metric, score_axes in metric_axes.items():
        score_axes.set(xlabel="epoch", ylabel=metric, title=f"Validation: {metric}")
    for panel in axes:
        panel.grid(alpha=0.3)
        panel.xaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    return png_bytes(figure)
