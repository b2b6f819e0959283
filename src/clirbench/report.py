"""The study's HTML report: one self-contained page with tables, heatmaps and run metadata.

Self-contained means no network access is needed to read it (images are inlined PNGs,
styles are inline), so the page can be archived or mailed next to the results and still
render years later.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import importlib.resources
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from clirbench.evaluation import ALL
from clirbench.io import write_text
from clirbench.statistics import DatasetStatistics

CONDITION_ORDER = ("original", "translated")
TABLE_METRICS = (("recall@100", "R@100"), ("recall@10", "R@10"), ("ndcg@100", "nDCG@100"))
PAIR_METRICS = (("recall@100", "R@100"), ("ndcg@100", "nDCG@100"))
HEATMAP_METRIC = "recall@100"
DECIMALS = 3
MISSING = "–"
COLOUR_MAP = "viridis"
TEMPLATE = "templates/report.html.j2"

KNOWN_METADATA = ("library_versions", "models", "config_hash", "date", "wall_time_seconds")


@dataclass(frozen=True)
class Cell:
    """One table value as shown: formatted text, bold when best in its column."""

    text: str
    best: bool = False


@dataclass(frozen=True)
class Heatmap:
    dataset: str
    condition: str
    png_base64: str
    alt: str


def build_report(
    summary: pl.DataFrame,
    metadata: dict[str, Any],
    stage_times: pl.DataFrame,
    highlighted_pairs: list[tuple[str, str]],
    out_path: Path,
    dataset_notes: dict[str, str] | None = None,
    dataset_statistics: Sequence[DatasetStatistics] = (),
) -> None:
    """Write the report for a summary.csv table (see `evaluation.summary_table`).

    `metadata` keys the page knows: library_versions (name -> version), models
    (system -> model id), config_hash, date (defaults to today, UTC) and wall_time_seconds
    (elapsed time of the whole run; defaults to the sum over `stage_times`).  Other keys are
    listed as they are.  `stage_times` has columns stage, jobs, seconds.
    """
    context = {
        "table3": table3(summary),
        "heatmaps": heatmaps(summary),
        "highlighted": highlighted_pair_tables(summary, highlighted_pairs),
        "highlighted_pairs": [f"{query} → {doc}" for query, doc in highlighted_pairs],
        "pair_metrics": [label for _, label in PAIR_METRICS],
        "run": run_metadata(metadata, stage_times),
        "dataset_notes": dict(dataset_notes or {}),
        "datasets": list(dataset_statistics),
        "decimals": DECIMALS,
    }
    write_text(_template().render(**context), out_path)


def stage_times_from_benchmarks(paths: Iterable[Path], root: Path | None = None) -> pl.DataFrame:
    """Sum Snakemake `benchmark:` files per rule: columns stage, jobs, seconds.

    The stage is the benchmark file's folder name, which names the rule.  With `root`, it is
    instead the first folder below `root`, for layouts that nest wildcards below the rule
    (benchmarks/<rule>/<dataset>/<system>.tsv).  A file holds one row per repetition of its
    job, so its seconds are summed too.
    """
    rows = [(_stage_name(Path(path), root), _benchmark_seconds(Path(path))) for path in paths]
    jobs = pl.DataFrame(rows, schema={"stage": pl.String, "seconds": pl.Float64}, orient="row")
    return (
        jobs.group_by("stage")
        .agg(jobs=pl.len().cast(pl.Int64), seconds=pl.col("seconds").sum())
        .sort("stage")
    )


def _stage_name(path: Path, root: Path | None) -> str:
    if root is None:
        return path.parent.name
    folders = path.relative_to(root).parts[:-1]
    if not folders:
        raise ValueError(f"{path}: benchmark files must sit in a folder named after their rule")
    return folders[0]


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed distribution versions; "not installed" rather than an error for missing ones."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# --- Table 3: macro averages per system ------------------------------------------------


def table3(summary: pl.DataFrame) -> dict[str, Any]:
    """The paper's Table 3: rows systems, columns dataset × condition × metric, macro values."""
    macro = summary.filter((pl.col("query_lang") == ALL) & (pl.col("doc_lang") == ALL))
    datasets = _ordered(summary["dataset"])
    conditions = {d: _conditions(summary.filter(pl.col("dataset") == d)) for d in datasets}
    columns = [
        (dataset, condition, metric)
        for dataset in datasets
        for condition in conditions[dataset]
        for metric, _ in TABLE_METRICS
    ]
    systems = _ordered(summary["system"])
    lookup = _value_lookup(macro, ["dataset", "condition", "system", "metric"])
    values = [[lookup.get((d, c, s, m)) for d, c, m in columns] for s in systems]
    return {
        "datasets": [(d, len(conditions[d]) * len(TABLE_METRICS)) for d in datasets],
        "conditions": [(c, len(TABLE_METRICS)) for d in datasets for c in conditions[d]],
        "metrics": [dict(TABLE_METRICS)[metric] for _, _, metric in columns],
        "columns": columns,
        "rows": list(zip(systems, _mark_best(values), strict=True)),
    }


def _mark_best(values: list[list[float | None]]) -> list[list[Cell]]:
    """Format values; bold the best of each column (all systems tied at the shown precision)."""
    rounded = [[None if v is None else round(v, DECIMALS) for v in row] for row in values]
    best = [_maximum(column) for column in zip(*rounded, strict=True)]
    return [
        [
            Cell(_format(v), best=v is not None and v == top)
            for v, top in zip(row, best, strict=True)
        ]
        for row in rounded
    ]


def _maximum(column: Iterable[float | None]) -> float | None:
    return max((value for value in column if value is not None), default=None)


# --- Heatmaps: Recall@100 per language pair ---------------------------------------------


def heatmaps(summary: pl.DataFrame) -> list[Heatmap]:
    """One inline PNG per dataset × condition, one panel per system."""
    pairs = summary.filter((pl.col("query_lang") != ALL) & (pl.col("metric") == HEATMAP_METRIC))
    images: list[Heatmap] = []
    for dataset in _ordered(pairs["dataset"]):
        in_dataset = pairs.filter(pl.col("dataset") == dataset)
        for condition in _conditions(in_dataset):
            panel_data = in_dataset.filter(pl.col("condition") == condition)
            png = heatmap_png(panel_data, title=f"{dataset} – {condition}")
            alt = f"Recall@100 per query language × document language, {dataset}, {condition}"
            images.append(Heatmap(dataset, condition, base64.b64encode(png).decode("ascii"), alt))
    return images


@dataclass(frozen=True)
class Panel:
    """One matrix of a heatmap figure: `rows` × `columns` values (NaN: not evaluated)."""

    title: str
    rows: list[str]
    columns: list[str]
    row_label: str
    column_label: str
    matrix: np.ndarray


def heatmap_panels(pairs: pl.DataFrame) -> list[Panel]:
    """Query language × document language, one panel per system; when one side has a single
    language (Tatoeba xx→en, WikiCLIR en→xx) one panel instead, the systems on the other axis."""
    systems = _ordered(pairs["system"])
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


# --- Highlighted language pairs ------------------------------------------------------------


def highlighted_pair_tables(
    summary: pl.DataFrame, highlighted_pairs: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Per dataset with any of the pairs: rows system × condition, R@100 and nDCG@100 per pair."""
    if not highlighted_pairs:
        return []
    lookup = _value_lookup(
        summary, ["dataset", "system", "condition", "query_lang", "doc_lang", "metric"]
    )
    wanted = set(highlighted_pairs)
    tables = []
    for dataset in _ordered(summary["dataset"]):
        in_dataset = summary.filter(pl.col("dataset") == dataset)
        present = set(in_dataset.select("query_lang", "doc_lang").unique().iter_rows())
        if not wanted & present:
            continue  # a dataset without any of the pairs would be a table of dashes
        rows = [
            (
                system,
                condition,
                [
                    Cell(_format(lookup.get((dataset, system, condition, q, d, metric))))
                    for q, d in highlighted_pairs
                    for metric, _ in PAIR_METRICS
                ],
            )
            for system in _ordered(in_dataset["system"])
            for condition in _conditions(in_dataset)
        ]
        tables.append({"dataset": dataset, "rows": rows})
    return tables


# --- Run metadata -----------------------------------------------------------------------------


def run_metadata(metadata: Mapping[str, Any], stage_times: pl.DataFrame) -> dict[str, Any]:
    stages = stage_times.sort("seconds", descending=True)
    total = metadata.get("wall_time_seconds")
    summed = float(stages["seconds"].sum()) if stages.height else 0.0
    return {
        "date": str(metadata.get("date") or dt.datetime.now(dt.UTC).date().isoformat()),
        "config_hash": str(metadata.get("config_hash", MISSING)),
        "models": {str(k): str(v) for k, v in dict(metadata.get("models") or {}).items()},
        "libraries": {
            str(k): str(v) for k, v in sorted(dict(metadata.get("library_versions") or {}).items())
        },
        "total_time": format_duration(float(total) if total is not None else summed),
        "total_is_sum": total is None,
        "stages": [
            (stage, jobs, format_duration(seconds), _share(seconds, summed))
            for stage, jobs, seconds in stages.select("stage", "jobs", "seconds").iter_rows()
        ],
        "other": {str(k): str(v) for k, v in metadata.items() if k not in KNOWN_METADATA},
    }


def format_duration(seconds: float) -> str:
    """h:mm:ss, the way Snakemake benchmarks show times (fractions below a second dropped)."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _share(seconds: float, total: float) -> str:
    return f"{100 * seconds / total:.1f} %" if total > 0 else MISSING


# --- Helpers ------------------------------------------------------------------------------------


def _benchmark_seconds(path: Path) -> float:
    table = pl.read_csv(path, separator="\t", infer_schema=False)
    if "s" not in table.columns:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no 's' column)")
    seconds = table["s"].cast(pl.Float64, strict=False)
    if seconds.null_count():
        raise ValueError(f"{path}: the 's' column must hold numbers")
    return float(seconds.sum())


def _value_lookup(frame: pl.DataFrame, keys: list[str]) -> dict[tuple[str, ...], float]:
    return {tuple(row[:-1]): row[-1] for row in frame.select(*keys, "value").iter_rows()}


def _ordered(column: pl.Series) -> list[str]:
    """Distinct values in order of first appearance: summary_table's sort, or the caller's."""
    return column.unique(maintain_order=True).to_list()


def _conditions(frame: pl.DataFrame) -> list[str]:
    present = _ordered(frame["condition"])
    known = [c for c in CONDITION_ORDER if c in present]
    return known + [c for c in present if c not in CONDITION_ORDER]


def _format(value: float | None) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.{DECIMALS}f}"


def _template() -> jinja2.Template:
    source = importlib.resources.files("clirbench").joinpath(TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return environment.from_string(source)
