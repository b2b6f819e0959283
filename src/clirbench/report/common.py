"""What every section of the report shares: how values are shown and in which order.

Kept in one place so that the tables, heatmaps and pair tables of the page cannot disagree
about the number of decimals, the dash for a missing value or the order of the conditions.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from clirbench.core.systems import MACHINE_TRANSLATION_PREFIX, condition_sort_key

DECIMALS = 3
MISSING = "–"


@dataclass(frozen=True)
class Cell:
    """One table value as shown: formatted text, bold when best in its column; where the
    analyses ran, its interval, its number of evaluation units when that differs from its
    column's, and whether it is not significantly different from the column's best."""

    text: str
    best: bool = False
    interval: str = ""
    units: str = ""
    tied_with_best: bool = False


def format_value(value: float | None) -> str:
    """The value at the report's precision, or a dash when missing (None or NaN)."""
    return MISSING if value is None or math.isnan(value) else f"{value:.{DECIMALS}f}"


def ordered(column: pl.Series) -> list[str]:
    """Distinct values in order of first appearance: summary_table's sort, or the caller's."""
    return column.unique(maintain_order=True).to_list()


def conditions(frame: pl.DataFrame) -> list[str]:
    """The frame's conditions: original, reference English, then machine translations."""
    return sorted(ordered(frame["condition"]), key=condition_sort_key)


def condition_label(name: str) -> str:
    """A condition as readers see it: "mt-nllb" is "machine translation (nllb)"; others as named."""
    if name.startswith(MACHINE_TRANSLATION_PREFIX):
        return f"machine translation ({name.removeprefix(MACHINE_TRANSLATION_PREFIX)})"
    return name


def value_lookup(frame: pl.DataFrame, keys: list[str]) -> dict[tuple[str, ...], float]:
    """The `value` column keyed by the given columns."""
    return {tuple(row[:-1]): row[-1] for row in frame.select(*keys, "value").iter_rows()}


# (dataset, condition, metric, system, reference) -> whether the difference is significant.
SignificanceLookup = dict[tuple[str, str, str, str, str], bool]


def significance_lookup(significance: pl.DataFrame | None) -> SignificanceLookup:
    """The analyses' verdicts (randomisation test, Holm-corrected) by comparison, whatever
    relation it was made for; empty without the analyses."""
    if significance is None:
        return {}
    keys = ("dataset", "condition", "metric", "system", "reference")
    return {
        (row[0], row[1], row[2], row[3], row[4]): bool(row[5])
        for row in significance.select(*keys, "significant").iter_rows()
    }


def png_bytes(figure: Any, dpi: float | None = None) -> bytes:
    """A matplotlib figure as PNG bytes, without the "Software" tag: the bytes then depend
    only on the data (and matplotlib's rendering), so a rerun writes the same page."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi or "figure", metadata={"Software": None})
    return buffer.getvalue()
