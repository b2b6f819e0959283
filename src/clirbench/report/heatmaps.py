"""Heatmaps of Recall@100 per query language × document language, one figure per dataset
and condition.

The paper's question is which language pairs a system handles and which it does not; a
matrix per system shows that at once (a weak query language is a dark row, a weak document
language a dark column). Figures are inline PNGs so the page stays self-contained.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from clirbench.core.systems import HNSW_SUFFIX
from clirbench.evaluate.metrics import ALL
from clirbench.report.common import MISSING, condition_label, conditions, ordered

HEATMAP_METRIC = "recall@100"
COLOUR_MAP = "viridis"


@dataclass(frozen=True)
class Heatmap:
    dataset: str
    condition: str
    png_base64: str
    alt: str


@dataclass(frozen=True)
class Panel:
    """One matrix of a heatmap figure: `rows` × `columns` values (NaN: not evaluated)."""

    title: str
    rows: list[str]
    columns: list[str]
    row_label: str
    column_label: str
    matrix: np.ndarray


def heatmaps(summary: pl.DataFrame) -> list[Heatmap]:
    """One inline PNG per dataset × condition, one panel per system.

    HNSW systems (`<encoder>+hnsw`) get no panel: their pairs differ from their exact
    search's only where the graph missed documents, which the approximate-search section
    shows per pair; a near-copy of each encoder's panel would only make the figure larger.
    """
    pairs = summary.filter(
        (pl.col("query_lang") != ALL)
        & (pl.col("metric") == HEATMAP_METRIC)
        & ~pl.col("system").str.ends_with(HNSW_SUFFIX)
    )
    images: list[Heatmap] = []
    for dataset in ordered(pairs["dataset"]):
        in_dataset = pairs.filter(pl.col("dataset") == dataset)
        for condition in conditions(in_dataset):
            panel_data = in_dataset.filter(pl.col("condition") == condition)
            label = condition_label(condition)
            png = heatmap_png(panel_data, title=f"{dataset} – {label}")
            alt = f"Recall@100 per query language × document language, {dataset}, {label}"
            images.append(Heatmap(dataset, condition, base64.b64encode(png).decode("ascii"), alt))
    return images


def heatmap_panels(pairs: pl.DataFrame) -> list[Panel]:
    """Query language × document language, one panel per system; when one side has a single
    language (Tatoeba xx→en, WikiCLIR en→xx) one panel instead, the systems on the other axis."""
    systems = ordered(pairs["system"])
    query_langs = sorted(set(pairs["query_lang"]))
    doc_langs = sorted(set(pairs["doc_lang"]))
    if len(doc_langs) == 1:
        matrix = _matrix(pairs, "query_lang", query_langs, "system", systems)
        label = f"system (documents in {doc_langs[0]})"
        return [Panel("", query_langs, systems, "query language", label, matrix)]
    if len(query_langs) == 1:
        matrix = _matrix(pairs, "system", systems, "doc_lang", doc_langs)
        label = f"system (queries in {query_langs[0]})"
        return [Panel("", systems, doc_langs, label, "document language", matrix)]
    return [
        Panel(
            system,
            query_langs,
            doc_langs,
            "query language",
            "document language",
            _matrix(pairs.filter(pl.col("system") == system), "query_lang", query_langs,
                    "doc_lang", doc_langs),
        )
        for system in systems
    ]  # fmt: skip


def heatmap_png(pairs: pl.DataFrame, title: str) -> bytes:
    """PNG of the heatmap panels (`heatmap_panels`), one colour scale 0–1."""
    panels = heatmap_panels(pairs)
    n_cols = min(3, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    n_rows_cells = max(len(panel.rows) for panel in panels)
    n_column_cells = max(len(panel.columns) for panel in panels)
    cell = 0.55 if max(n_rows_cells, n_column_cells) <= 8 else 0.42
    width = n_cols * (n_column_cells * cell + 1.2) + 1.2
    height = n_rows * (n_rows_cells * cell + 1.1) + 0.6
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)  # Agg without pyplot: no global backend state, safe in a library
    colour_map = _colour_map()
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    image = None
    for axis, panel in zip(axes.flat, panels, strict=False):
        image = _draw_panel(axis, panel, colour_map)
    for unused in axes.flat[len(panels) :]:
        unused.set_visible(False)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label="Recall@100")
    figure.suptitle(title, fontsize=11)
    buffer = io.BytesIO()
    # No "Software" tag: the bytes then depend only on the data (and matplotlib's rendering).
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _matrix(
    pairs: pl.DataFrame, row_key: str, rows: list[str], column_key: str, columns: list[str]
) -> np.ndarray:
    matrix = np.full((len(rows), len(columns)), np.nan)
    for row, column, value in pairs.select(row_key, column_key, "value").iter_rows():
        matrix[rows.index(row), columns.index(column)] = value
    return matrix


def _draw_panel(axis: Any, panel: Panel, colour_map: Colormap) -> Any:
    matrix = panel.matrix
    image = axis.imshow(np.ma.masked_invalid(matrix), cmap=colour_map, vmin=0.0, vmax=1.0)
    axis.set_title(panel.title, fontsize=10)
    axis.set_xticks(range(len(panel.columns)), panel.columns, fontsize=8)
    axis.set_yticks(range(len(panel.rows)), panel.rows, fontsize=8)
    if len(panel.columns) > 1 and max(map(len, panel.columns)) > 3:  # system names
        axis.tick_params(axis="x", labelrotation=45)
    axis.set_xlabel(panel.column_label, fontsize=8)
    axis.set_ylabel(panel.row_label, fontsize=8)
    axis.tick_params(length=0)
    font_size = 8 if max(matrix.shape) <= 8 else 7
    for (row, column), value in np.ndenumerate(matrix):
        label = MISSING if np.isnan(value) else f"{value:.2f}"
        colour = "black" if np.isnan(value) else _text_colour(colour_map(value))
        axis.text(column, row, label, ha="center", va="center", fontsize=font_size, color=colour)
    return image


def _colour_map() -> Colormap:
    # Missing pairs are drawn light grey, outside the colour scale.
    return matplotlib.colormaps[COLOUR_MAP].with_extremes(bad="#e6e6e6")


def _text_colour(rgba: Sequence[float]) -> str:
    # Relative luminance decides: dark text on the light (yellow) end, white on the dark end.
    red, green, blue = rgba[:3]
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"
