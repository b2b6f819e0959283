"""The machine translation pilot's figure (the paper's Figure 2): adequacy and fluency per
source language, one bar per translation system.

The pilot exists to choose the translator of the full collection, so the figure puts the
systems side by side in every language: a system that is fluent but unfaithful (or the
reverse) shows as a tall bar in one panel and a short one in the other, and a language all
systems find hard shows as a low group. Adequacy is higher-is-better, fluency is
perplexity (lower is better, on a log scale: perplexities of different systems differ by
factors). The PNG is inlined in the page like the heatmaps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from clirbench.core.systems import REFERENCE_SYSTEM
from clirbench.report.common import png_bytes

LANGUAGES_PER_ROW = 12  # more and the bar groups get too thin to tell apart at page width
FIGURE_WIDTH = 11.0  # inches; at 110 dpi about the page's width
PANEL_HEIGHT = 2.4
REFERENCE_COLOUR = "#a6a6a6"


@dataclass(frozen=True)
class LanguageScores:
    """One language's group of bars: adequacy (under `adequacy_measure`) and perplexity per
    system; a system that was not scored in the language is absent from the mapping."""

    lang: str
    adequacy_measure: str  # "COMET-Kiwi" or "encoder cosine"; "" when neither was scored
    adequacy: Mapping[str, float]
    perplexity: Mapping[str, float]


def pilot_figure_png(
    languages: Sequence[LanguageScores],
    systems: Sequence[str],
    labels: Mapping[str, str],
    chosen: str | None,
) -> bytes:
    """PNG: per row of at most LANGUAGES_PER_ROW languages an adequacy panel above a fluency
    panel, grouped bars per system (`labels` names them), the chosen system outlined."""
    # Rows of equal length (26 languages: 3 rows of 9, not 12, 12 and 2), equal bar widths.
    per_row = math.ceil(len(languages) / max(math.ceil(len(languages) / LANGUAGES_PER_ROW), 1))
    rows = [languages[start : start + per_row] for start in range(0, len(languages), per_row)]
    rows = rows or [[]]
    figure = Figure(
        figsize=(FIGURE_WIDTH, len(rows) * 2 * PANEL_HEIGHT + 0.9), dpi=110, layout="constrained"
    )
    FigureCanvasAgg(figure)  # Agg without pyplot: no global backend state, safe in a library
    axes = figure.subplots(2 * len(rows), 1, squeeze=False)[:, 0]
    colours = _colours(systems)
    measures = {score.adequacy_measure for score in languages if score.adequacy_measure}
    # Mixed measures (COMET-Kiwi missing in some language): the fallback's languages are marked.
    marked = {"encoder cosine"} if len(measures) > 1 else set()
    for index, row in enumerate(rows):
        adequacy_axis, fluency_axis = axes[2 * index], axes[2 * index + 1]
        tick_labels = [
            f"{s.lang}\n(cosine)" if s.adequacy_measure in marked else s.lang for s in row
        ]
        _bars(adequacy_axis, row, systems, colours, chosen, "adequacy")
        _bars(fluency_axis, row, systems, colours, chosen, "perplexity")
        adequacy_axis.set_ylabel(_adequacy_label(measures), fontsize=9)
        adequacy_axis.set_ylim(bottom=min(0.0, _lowest(row)))
        fluency_axis.set_yscale("log")
        fluency_axis.set_ylim(bottom=1.0)
        # Plain numbers at 1, 2, 5, 10, ...: powers of ten alone say too little.
        fluency_axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        fluency_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        fluency_axis.yaxis.set_minor_formatter(NullFormatter())
        fluency_axis.set_ylabel("perplexity\n(log; lower is better)", fontsize=9)
        for axis in (adequacy_axis, fluency_axis):
            axis.set_xticks(range(len(row)), tick_labels, fontsize=9)
            axis.set_xlim(-0.6, max(per_row, 1) - 0.4)
            axis.tick_params(axis="y", labelsize=8)
            axis.grid(axis="y", color="#dddddd", linewidth=0.6)
            axis.set_axisbelow(True)
        fluency_axis.set_xlabel("source language", fontsize=9)
    handles = [
        matplotlib.patches.Patch(
            facecolor=colours[system],
            hatch="///" if system == REFERENCE_SYSTEM else None,
            edgecolor="black" if system == chosen else "white",
            linewidth=1.6 if system == chosen else 0.0,
            label=labels[system] + (" (chosen)" if system == chosen else ""),
        )
        for system in systems
    ]
    figure.legend(
        handles=handles, loc="outside upper center", ncols=min(len(handles), 6), fontsize=9,
        frameon=False,
    )  # fmt: skip
    return png_bytes(figure)


def _bars(
    axis: Any,
    row: Sequence[LanguageScores],
    systems: Sequence[str],
    colours: Mapping[str, Any],
    chosen: str | None,
    panel: str,
) -> None:
    width = 0.82 / max(len(systems), 1)
    for offset, system in enumerate(systems):
        shift = (offset - (len(systems) - 1) / 2) * width
        for position, scores in enumerate(row):
            values = scores.adequacy if panel == "adequacy" else scores.perplexity
            value = values.get(system)
            x = position + shift
            if value is None or math.isnan(value):
                # Not scored (the system does not take the language): a dash, not a zero bar.
                axis.annotate("–", (x, 0), xytext=(0, 1), textcoords="offset points",
                              xycoords=("data", "axes fraction"), ha="center", va="bottom",
                              fontsize=7, color="#777777")  # fmt: skip
                continue
            # Perplexity bars rise from 1, the lowest perplexity there is (log axis).
            base = 1.0 if panel == "perplexity" else 0.0
            axis.bar(
                x, value - base, width=width * 0.92, bottom=base, color=colours[system],
                hatch="///" if system == REFERENCE_SYSTEM else None,
                edgecolor="black" if system == chosen else "white",
                linewidth=1.2 if system == chosen else 0.0,
            )  # fmt: skip


def _colours(systems: Sequence[str]) -> dict[str, Any]:
    palette = matplotlib.colormaps["tab10"]  # a qualitative map: an integer picks a colour
    machine = [system for system in systems if system != REFERENCE_SYSTEM]
    colours: dict[str, Any] = {s: palette(i % palette.N) for i, s in enumerate(machine)}
    colours[REFERENCE_SYSTEM] = REFERENCE_COLOUR
    return colours


def _adequacy_label(measures: set[str]) -> str:
    if not measures:
        return "adequacy\n(not scored)"
    if len(measures) == 1:
        return f"adequacy\n({next(iter(measures))})"
    return "adequacy (COMET-Kiwi;\ncosine where marked)"


def _lowest(row: Sequence[LanguageScores]) -> float:
    values = [v for scores in row for v in scores.adequacy.values() if not math.isnan(v)]
    return min(values, default=0.0)
