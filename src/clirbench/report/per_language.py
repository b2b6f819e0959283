"""Recall@100 by query language and by document language: per system, the macro average over
the language pairs with that language on that side, one figure per dataset × condition.

The heatmaps show every pair; these views answer the question that follows, whether a
language is hard as the language of the queries (the system does not understand them) or
as the language of the documents (it does not find them), without comparing rows and
columns of a matrix per system. Pairs weigh the same, as in the summary's macro averages;
each group's label says how many queries stand behind it.

Left out, and said so on the page: HNSW systems (near-copies of their exact search, which
the approximate search section compares) and re-ranked systems (`<first stage>><re-ranker>`),
scored on the re-ranked queries only, a sample when the stage limits them, so their bars
would not compare with the others'.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from clirbench.core.systems import HNSW_SUFFIX
from clirbench.evaluate.metrics import ALL
from clirbench.report.common import conditions, ordered, png_bytes
from clirbench.rerank.specs import RERANK_SEPARATOR

PER_LANGUAGE_METRIC = "recall@100"
METRIC_LABEL = "Recall@100"
SIDES = (("query_lang", "query language"), ("doc_lang", "document language"))
FIGURE_WIDTH = 12.4  # inches; at DPI the page's content column (80rem less its padding)
DPI = 100
PANEL_HEIGHT = 2.6  # inches per row of bar groups
LANGUAGES_PER_ROW = 18  # more and the groups' labels (language and count) run together


@dataclass(frozen=True)
class LanguageView:
    """One side's bar groups: per language (sorted), each system's macro average over the
    pairs with that language on the side (NaN: the system has no such pair), and the number
    of queries behind the group ("120", or "100–120" when it differs between systems)."""

    side_label: str
    languages: list[str]
    systems: list[str]
    means: np.ndarray  # systems × languages
    counts: list[str]


@dataclass(frozen=True)
class PerLanguageFigure:
    dataset: str
    condition: str
    png_base64: str
    alt: str
    sides: list[str]  # the views drawn, e.g. ["query language", "document language"]
    systems: list[str]


def per_language(summary: pl.DataFrame) -> list[PerLanguageFigure]:
    """One inline PNG per dataset × condition: a panel per side with more than one language
    (Tatoeba's documents are all English: no document language panel)."""
    pairs = summary.filter(
        (pl.col("query_lang") != ALL)
        & (pl.col("metric") == PER_LANGUAGE_METRIC)
        & ~pl.col("system").str.ends_with(HNSW_SUFFIX)
        & ~pl.col("system").str.contains(RERANK_SEPARATOR, literal=True)
    )
    # One colour per system on the whole page, whichever systems a figure has.
    colours = system_colours(ordered(pairs["system"]))
    figures: list[PerLanguageFigure] = []
    for dataset in ordered(pairs["dataset"]):
        in_dataset = pairs.filter(pl.col("dataset") == dataset)
        for condition in conditions(in_dataset):
            in_condition = in_dataset.filter(pl.col("condition") == condition)
            views = [
                language_view(in_condition, side, label)
                for side, label in SIDES
                if in_condition[side].n_unique() > 1
            ]
            if not views:
                continue  # a single language pair: the heatmap says all there is
            png = per_language_png(views, colours)
            sides = [view.side_label for view in views]
            alt = (
                f"{METRIC_LABEL} by {' and by '.join(sides)}, per system, "
                f"{dataset}, {condition}"
            )
            encoded = base64.b64encode(png).decode("ascii")
            systems = views[0].systems
            figures.append(PerLanguageFigure(dataset, condition, encoded, alt, sides, systems))
    return figures


def language_means(pairs: pl.DataFrame, side: str) -> pl.DataFrame:
    """Per system and language of `side` ("query_lang" or "doc_lang"): value, the mean over
    the pairs with that language on the side (each pair weighs the same); n_queries, the sum
    of their queries; pairs, their number. Rows in the systems' order, languages sorted."""
    systems = ordered(pairs["system"])
    rank = pl.col("system").replace_strict(
        {system: index for index, system in enumerate(systems)}, return_dtype=pl.Int64
    )
    # Sorted before averaging: a sum's floating-point result depends on the order of its terms.
    return (
        pairs.sort("system", "query_lang", "doc_lang")
        .group_by("system", side, maintain_order=True)
        .agg(
            value=pl.col("value").mean(),
            n_queries=pl.col("n_queries").sum(),
            pairs=pl.len(),
        )
        .sort(rank, side)
        .select("system", pl.col(side).alias("lang"), "value", "n_queries", "pairs")
    )


def language_view(pairs: pl.DataFrame, side: str, side_label: str) -> LanguageView:
    """`language_means` of one dataset and condition as bar groups."""
    means = language_means(pairs, side)
    systems = ordered(pairs["system"])
    languages = sorted(set(means["lang"]))
    matrix = np.full((len(systems), len(languages)), np.nan)
    counts: dict[str, set[int]] = {lang: set() for lang in languages}
    for system, lang, value, n_queries, _ in means.iter_rows():
        matrix[systems.index(system), languages.index(lang)] = value
        counts[lang].add(int(n_queries))
    return LanguageView(
        side_label, languages, systems, matrix, [_count_label(counts[lang]) for lang in languages]
    )


def per_language_png(
    views: Sequence[LanguageView], colours: Mapping[str, Any] | None = None
) -> bytes:
    """PNG: per view a panel (split in rows of at most LANGUAGES_PER_ROW languages), grouped
    bars per system on one 0–1 scale, each group labelled with its language and count.
    `colours`: system -> colour (default: `system_colours` of the views' systems)."""
    chunks = [
        (view, start, min(start + _per_row(view), len(view.languages)))
        for view in views
        for start in range(0, len(view.languages), _per_row(view))
    ]
    systems = views[0].systems
    figure = Figure(
        figsize=(FIGURE_WIDTH, len(chunks) * PANEL_HEIGHT + 0.5), dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(figure)  # Agg without pyplot: no global backend state, safe in a library
    axes = figure.subplots(len(chunks), 1, squeeze=False)[:, 0]
    colours = colours or system_colours(systems)
    per_row = max(end - start for _, start, end in chunks)
    for axis, (view, start, end) in zip(axes, chunks, strict=True):
        _bars(axis, view, start, end, colours)
        axis.set_xlim(-0.6, per_row - 0.4)  # equal group widths in every row
        axis.set_title(f"by {view.side_label}", fontsize=10, loc="left")
    handles = [Patch(facecolor=colours[system], label=system) for system in systems]
    figure.legend(
        handles=handles, loc="outside upper center", ncols=min(len(handles), 8), fontsize=9,
        frameon=False,
    )  # fmt: skip
    return png_bytes(figure)


def _bars(
    axis: Any, view: LanguageView, start: int, end: int, colours: Mapping[str, Any]
) -> None:
    languages = view.languages[start:end]
    width = 0.84 / max(len(view.systems), 1)
    positions = np.arange(len(languages))
    for offset, system in enumerate(view.systems):
        shift = (offset - (len(view.systems) - 1) / 2) * width
        values = view.means[offset, start:end]
        shown = ~np.isnan(values)
        axis.bar(positions[shown] + shift, values[shown], width=width * 0.92,
                 color=colours[system], linewidth=0)  # fmt: skip
        for x in positions[~shown] + shift:
            # No pair with the language: a dash, not a bar of 0 (which is a result).
            axis.annotate("–", (x, 0), xytext=(0, 1), textcoords="offset points",
                          ha="center", va="bottom", fontsize=8, color="#777777")  # fmt: skip
    labels = [f"{lang}\nn={count}" for lang, count in zip(languages, view.counts[start:end],
                                                          strict=True)]  # fmt: skip
    axis.set_xticks(positions, labels, fontsize=9)
    axis.tick_params(axis="x", length=0)
    axis.tick_params(axis="y", labelsize=9)
    axis.set_ylim(0.0, 1.0)
    axis.set_ylabel(f"{METRIC_LABEL}\n(mean over pairs)", fontsize=9)
    axis.grid(axis="y", color="#dddddd", linewidth=0.6)
    axis.set_axisbelow(True)
    for spine in ("top", "right"):
        axis.spines[spine].set_visible(False)


def _per_row(view: LanguageView) -> int:
    # Rows of equal length (26 languages: 2 rows of 13, not 18 and 8).
    rows = max(math.ceil(len(view.languages) / LANGUAGES_PER_ROW), 1)
    return max(math.ceil(len(view.languages) / rows), 1)


def _count_label(counts: set[int]) -> str:
    low, high = min(counts), max(counts)
    return f"{low}" if low == high else f"{low}–{high}"


def system_colours(systems: Sequence[str]) -> dict[str, Any]:
    """A colour per system: tab10's (qualitative) in order, tab20's beyond ten systems."""
    palette = matplotlib.colormaps["tab10" if len(systems) <= 10 else "tab20"]
    return {system: palette(index % palette.N) for index, system in enumerate(systems)}
