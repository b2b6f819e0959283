"""The approximate search section's figure: what HNSW's search ef buys, in speed and in
agreement with exact search.

ef is the one HNSW setting that can be changed after the index is built, and it trades
speed for fidelity: a small ef searches fewer graph nodes (more queries per second) and
misses more of the exact top-k. One curve per encoder, one panel per dataset and
condition, with the overlap with the exact top-k (y) against queries per second (x, log
scale: speeds differ by factors), every point labelled with its ef ("10→100" where hnswlib
searched with another ef than asked for: never below k; the points of one search share a
label), so a reader sees where the
configured setting sits on the curve and what a smaller or larger ef would give. Exact
search is the point at overlap 1 in the curve's colour. The PNG is inlined in the page like
the other figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from clirbench.report.common import png_bytes

PANELS_PER_ROW = 3  # more and the ef labels crowd at page width
FIGURE_WIDTH = 11.0  # inches; at 110 dpi about the page's width
PANEL_HEIGHT = 3.6


@dataclass(frozen=True)
class SweepPoint:
    """One search of the sweep: the ef asked for, the ef searched with (hnswlib searches
    with at least k), and what it gave."""

    ef: int
    search_ef: int
    queries_per_second: float
    overlap: float


@dataclass(frozen=True)
class SweepCurve:
    """One encoder's sweep on one dataset and condition (`panel` names the panel)."""

    panel: str
    encoder: str
    points: Sequence[SweepPoint]
    configured_search_ef: int | None  # searched with by the table's HNSW row: outlined
    exact_queries_per_second: float | None  # exact search's speed, drawn at overlap 1


def ef_sweep_png(curves: Sequence[SweepCurve], top_k: str) -> bytes:
    """PNG: a panel per distinct `panel` (in order of first appearance), a curve per encoder
    (one colour per encoder throughout); `top_k` completes the y label ("exact top 100")."""
    panels = list(dict.fromkeys(curve.panel for curve in curves)) or [""]
    columns = min(PANELS_PER_ROW, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(FIGURE_WIDTH, rows * PANEL_HEIGHT + 0.8), dpi=110,
                    layout="constrained")  # fmt: skip
    FigureCanvasAgg(figure)  # Agg without pyplot: no global backend state, safe in a library
    axes = figure.subplots(rows, columns, squeeze=False, sharey=True)
    colours = _colours([curve.encoder for curve in curves])
    overlaps = [p.overlap for c in curves for p in c.points if not math.isnan(p.overlap)]
    bottom = min([*overlaps, 1.0])
    for axis, panel in zip(axes.flat, panels, strict=False):
        for curve in (c for c in curves if c.panel == panel):
            _curve(axis, curve, colours[curve.encoder])
        axis.set_title(panel, fontsize=10)
        axis.set_xscale("log")
        # Plain numbers at 1, 2, 5, 10, ...: powers of ten alone say too little.
        axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.margins(x=0.15)  # room for the labels of the outermost points
        axis.set_xlabel("queries per second (batched; log scale)", fontsize=9)
        axis.tick_params(labelsize=8)
        axis.grid(color="#dddddd", linewidth=0.6, which="both")
        axis.set_axisbelow(True)
    for axis in axes[:, 0]:
        axis.set_ylabel(f"overlap with the {top_k}", fontsize=9)
    # Overlap cannot exceed 1: a small margin above keeps the exact-search marks and labels
    # inside the frame.
    axes[0, 0].set_ylim(bottom - max(0.03, (1.0 - bottom) * 0.08), 1.0 + 0.008)
    for unused in axes.flat[len(panels) :]:
        unused.set_visible(False)
    handles: list[Any] = [
        Line2D([], [], color=colour, marker="o", markersize=5, label=encoder)
        for encoder, colour in colours.items()
    ]
    handles += [
        Line2D([], [], color="#555555", marker="o", markersize=8, markerfacecolor="none",
               markeredgewidth=1.5, linestyle="none", label="the table’s ef"),
        Line2D([], [], color="#555555", marker="D", markersize=6, markerfacecolor="none",
               linestyle="none", label="exact search"),
    ]  # fmt: skip
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6),
                  fontsize=9, frameon=False)  # fmt: skip
    return png_bytes(figure)


def _curve(axis: Any, curve: SweepCurve, colour: Any) -> None:
    points = sorted(curve.points, key=lambda point: (point.search_ef, point.ef))
    speeds = [point.queries_per_second for point in points]
    overlaps = [point.overlap for point in points]
    axis.plot(speeds, overlaps, color=colour, marker="o", markersize=4, linewidth=1.3)
    for point, label in sweep_labels(points):
        axis.annotate(label, (point.queries_per_second, point.overlap), xytext=(3, 4),
                      textcoords="offset points", fontsize=7, color=colour)  # fmt: skip
    for point in points:
        if point.search_ef == curve.configured_search_ef:
            axis.plot(point.queries_per_second, point.overlap, marker="o", markersize=9,
                      markerfacecolor="none", markeredgecolor=colour,
                      markeredgewidth=1.5)  # fmt: skip
    if curve.exact_queries_per_second:
        axis.plot(curve.exact_queries_per_second, 1.0, marker="D", markersize=6,
                  markerfacecolor="none", markeredgecolor=colour, linestyle="none")  # fmt: skip


def sweep_labels(points: Sequence[SweepPoint]) -> list[tuple[SweepPoint, str]]:
    """One label per ef searched with, at the first of its points: "50"; "10→100" when
    hnswlib searched with another ef than asked for; "10, 100→100" when several asked-for
    values were one search (labels of the same search would print over each other)."""
    groups: dict[int, list[SweepPoint]] = {}
    for point in sorted(points, key=lambda point: (point.search_ef, point.ef)):
        groups.setdefault(point.search_ef, []).append(point)
    labels = []
    for search_ef, group in groups.items():
        asked = ", ".join(str(ef) for ef in dict.fromkeys(point.ef for point in group))
        differs = any(point.ef != search_ef for point in group)
        labels.append((group[0], f"{asked}→{search_ef}" if differs else asked))
    return labels


def _colours(encoders: Sequence[str]) -> Mapping[str, Any]:
    palette = matplotlib.colormaps["tab10"]  # a qualitative map: an integer picks a colour
    names = list(dict.fromkeys(encoders))
    return {encoder: palette(index % palette.N) for index, encoder in enumerate(names)}
