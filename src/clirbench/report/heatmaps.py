"""Heatmaps of a metric per query language × document language, one figure per dataset and
condition, each cell with the number of queries behind its value.

The paper's question is which language pairs a system handles and which it does not; a
matrix per system shows that at once (a weak query language is a dark row, a weak document
language a dark column). A pair's value means little without its sample size (a pair of 4
queries moves by 0.25 with one query), so every cell also says how many queries it averages.

The heatmaps are HTML tables, coloured by CSS, rather than images: their numbers are text,
legible at the page's width and at any zoom, and the metric switch (Recall@100, Recall@10,
nDCG@10; radio buttons and :checked selectors, no script) only shows another of the three
values every cell holds. Three images per figure, at a size where the labels are legible,
would make the page several megabytes larger and the report job tens of seconds slower.

A cell whose query or document language the system was not trained on is marked †
(`clirbench.report.language_coverage`): a dark cell there says less about the pair than
about the model's languages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import polars as pl
from matplotlib.colors import Colormap, to_hex

from clirbench.core.systems import HNSW_SUFFIX
from clirbench.evaluate.metrics import ALL
from clirbench.report.common import MISSING, conditions, ordered
from clirbench.report.language_coverage import LanguageCoverage, mark_title

# The switch's choices, the first shown when the page opens.
HEATMAP_METRICS: tuple[str, ...] = ("recall@100", "recall@10", "ndcg@10")
METRIC_LABELS = {"recall@100": "Recall@100", "recall@10": "Recall@10", "ndcg@10": "nDCG@10"}
COLOUR_MAP = "viridis"
# Cells are coloured in steps of 1 / COLOUR_STEPS (a CSS class per step and metric); the
# exact value is the cell's text.
COLOUR_STEPS = 50
SCALE_STOPS = 11  # colours of the legend's gradient, 0 to 1
# CSS class prefix of each metric's colour step, in HEATMAP_METRICS order: "a37" is step 37
# of the first metric.
CLASS_PREFIXES = "abcdefghij"


@dataclass(frozen=True)
class Panel:
    """One matrix of a heatmap figure: `rows` × `columns`, per metric of HEATMAP_METRICS its
    values (NaN: not evaluated), and the number of queries of each cell (0: not evaluated)."""

    title: str
    rows: list[str]
    columns: list[str]
    row_label: str
    column_label: str
    values: dict[str, np.ndarray]
    counts: np.ndarray
    # Per cell, the hover text of its † mark ("" unmarked: every language covered or unknown).
    marks: np.ndarray | None = None


@dataclass(frozen=True)
class HeatmapCell:
    """One cell as the page shows it: a value per metric of the switch, the CSS classes of
    their colours, the query count ("" and no values when the pair was not evaluated), and
    the hover text of its † mark ("" when unmarked)."""

    values: tuple[str, ...]
    classes: str
    count: str
    mark: str = ""


@dataclass(frozen=True)
class PanelTable:
    """A panel ready for the template: its header row, and per row a label and its cells."""

    title: str
    row_label: str
    column_label: str
    columns: list[str]
    rows: list[tuple[str, list[HeatmapCell]]]
    system_columns: bool  # columns are system names: set vertically, they are long


@dataclass(frozen=True)
class Heatmap:
    dataset: str
    condition: str
    panels: list[PanelTable]


@dataclass(frozen=True)
class HeatmapSection:
    """The heatmaps section's context: the switch's metrics (name, label), one figure per
    dataset × condition, the CSS of the colour steps and the legend's gradient."""

    metrics: list[tuple[str, str]]
    figures: list[Heatmap]
    colour_css: str
    scale: str
    marked: bool = False  # some cell is marked †: the note says what it means


# (system, query language, document language) -> the hover text of the pair's † mark, or "".
Marker = Callable[[str, str, str], str]


def heatmaps(summary: pl.DataFrame, coverage: LanguageCoverage | None = None) -> HeatmapSection:
    """One figure per dataset × condition, one panel per system; with `coverage`, the cells
    of a language the system was not trained on marked †.

    HNSW systems (`<encoder>+hnsw`) get no panel: their pairs differ from their exact
    search's only where the graph missed documents, which the approximate-search section
    shows per pair; a near-copy of each encoder's panel would only make the figure larger.
    """
    pairs = summary.filter(
        (pl.col("query_lang") != ALL)
        & pl.col("metric").is_in(HEATMAP_METRICS)
        & ~pl.col("system").str.ends_with(HNSW_SUFFIX)
    )
    figures: list[Heatmap] = []
    for dataset in ordered(pairs["dataset"]):
        in_dataset = pairs.filter(pl.col("dataset") == dataset)
        for condition in conditions(in_dataset):
            marker = _marker(coverage, dataset, condition)
            panels = heatmap_panels(in_dataset.filter(pl.col("condition") == condition), marker)
            figures.append(Heatmap(dataset, condition, [panel_table(p) for p in panels]))
    colour_map = _colour_map()
    return HeatmapSection(
        metrics=[(metric, METRIC_LABELS[metric]) for metric in HEATMAP_METRICS],
        figures=figures,
        colour_css=colour_css(colour_map),
        scale=", ".join(to_hex(colour_map(i / (SCALE_STOPS - 1))) for i in range(SCALE_STOPS)),
        marked=any(
            cell.mark
            for figure in figures
            for panel in figure.panels
            for _, cells in panel.rows
            for cell in cells
        ),
    )


def _marker(coverage: LanguageCoverage | None, dataset: str, condition: str) -> Marker | None:
    if coverage is None:
        return None

    def mark(system: str, query_lang: str, doc_lang: str) -> str:
        missing = coverage.uncovered(dataset, condition, system, query_lang, doc_lang)
        return mark_title(missing) if missing else ""

    return mark


def heatmap_panels(pairs: pl.DataFrame, marker: Marker | None = None) -> list[Panel]:
    """Query language × document language, one panel per system; when one side has a single
    language (Tatoeba xx→en, WikiCLIR en→xx) one panel instead, the systems on the other axis.

    `pairs`: summary rows (system, query_lang, doc_lang, metric, value, n_queries) of one
    dataset and condition, without the macro rows. `marker` gives each cell's † mark.
    """
    systems = ordered(pairs["system"])
    query_langs = sorted(set(pairs["query_lang"]))
    doc_langs = sorted(set(pairs["doc_lang"]))
    if len(doc_langs) == 1:
        label = f"system (documents in {doc_langs[0]})"
        keys = ("query_lang", query_langs, "system", systems)
        fixed = {"doc_lang": doc_langs[0]}
        return [_panel(pairs, "", keys, ("query language", label), _marks(keys, fixed, marker))]
    if len(query_langs) == 1:
        label = f"system (queries in {query_langs[0]})"
        keys = ("system", systems, "doc_lang", doc_langs)
        fixed = {"query_lang": query_langs[0]}
        return [_panel(pairs, "", keys, (label, "document language"), _marks(keys, fixed, marker))]
    keys = ("query_lang", query_langs, "doc_lang", doc_langs)
    labels = ("query language", "document language")
    return [
        _panel(
            pairs.filter(pl.col("system") == system),
            system,
            keys,
            labels,
            _marks(keys, {"system": system}, marker),
        )
        for system in systems
    ]


def _marks(
    keys: tuple[str, list[str], str, list[str]], fixed: dict[str, str], marker: Marker | None
) -> np.ndarray | None:
    """Each cell's mark: its row and column keys with `fixed`, the key neither axis has."""
    if marker is None:
        return None
    row_key, rows, column_key, columns = keys
    marks = np.full((len(rows), len(columns)), "", dtype=object)
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            where = {**fixed, row_key: row, column_key: column}
            marks[i, j] = marker(where["system"], where["query_lang"], where["doc_lang"])
    return marks


def panel_table(panel: Panel) -> PanelTable:
    """The panel's cells as text: values to 2 decimals, colour classes, "n=<queries>"."""
    steps = {metric: _colour_steps(panel.values[metric]) for metric in HEATMAP_METRICS}
    rows: list[tuple[str, list[HeatmapCell]]] = []
    for row_index, row in enumerate(panel.rows):
        cells: list[HeatmapCell] = []
        for column_index in range(len(panel.columns)):
            at = (row_index, column_index)
            values = [float(panel.values[metric][at]) for metric in HEATMAP_METRICS]
            if all(np.isnan(values)):
                cells.append(HeatmapCell((), "", ""))
                continue
            classes = " ".join(
                f"{CLASS_PREFIXES[i]}{steps[metric][at]}"
                for i, metric in enumerate(HEATMAP_METRICS)
                if not np.isnan(values[i])
            )
            texts = tuple(MISSING if np.isnan(value) else f"{value:.2f}" for value in values)
            mark = "" if panel.marks is None else str(panel.marks[at])
            cells.append(HeatmapCell(texts, classes, f"n={int(panel.counts[at])}", mark))
        rows.append((row, cells))
    system_columns = panel.column_label.startswith("system")
    return PanelTable(
        panel.title, panel.row_label, panel.column_label, panel.columns, rows, system_columns
    )


def colour_css(colour_map: Colormap) -> str:
    """One rule per colour step: the step's background for whichever metric is switched on,
    white or black text by the background's luminance."""
    rules = []
    for step in range(COLOUR_STEPS + 1):
        rgba = colour_map(step / COLOUR_STEPS)
        selectors = ",".join(
            f"#heatmap-metric-{i}:checked~.heatmap-figures .{CLASS_PREFIXES[i]}{step}"
            for i in range(len(HEATMAP_METRICS))
        )
        rules.append(f"{selectors}{{background:{to_hex(rgba)};color:{_text_colour(rgba)}}}")
    return "\n".join(rules)


def _panel(
    pairs: pl.DataFrame,
    title: str,
    keys: tuple[str, list[str], str, list[str]],
    labels: tuple[str, str],
    marks: np.ndarray | None = None,
) -> Panel:
    _, rows, _, columns = keys
    values = {
        metric: _matrix(pairs.filter(pl.col("metric") == metric), keys, "value", np.nan)
        for metric in HEATMAP_METRICS
    }
    # The count is the pair's, whatever the metric: the first metric's rows carry it.
    first = pairs.filter(pl.col("metric") == HEATMAP_METRICS[0])
    counts = _matrix(first, keys, "n_queries", 0).astype(np.int64)
    return Panel(title, rows, columns, labels[0], labels[1], values, counts, marks)


def _matrix(
    pairs: pl.DataFrame, keys: tuple[str, list[str], str, list[str]], column: str, empty: float
) -> np.ndarray:
    row_key, rows, column_key, columns = keys
    matrix = np.full((len(rows), len(columns)), empty, dtype=np.float64)
    for row, column_name, value in pairs.select(row_key, column_key, column).iter_rows():
        matrix[rows.index(row), columns.index(column_name)] = value
    return matrix


def _colour_steps(matrix: np.ndarray) -> np.ndarray:
    # Values outside 0–1 cannot occur for these metrics; clipped all the same, so a step
    # always has a rule.
    return np.rint(np.clip(np.nan_to_num(matrix), 0.0, 1.0) * COLOUR_STEPS).astype(np.int64)


def _colour_map() -> Colormap:
    return matplotlib.colormaps[COLOUR_MAP]


def _text_colour(rgba: Sequence[float]) -> str:
    # Relative luminance decides: dark text on the light (yellow) end, white on the dark end.
    red, green, blue = rgba[:3]
    return "#000" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "#fff"
