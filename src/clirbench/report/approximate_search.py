"""The approximate search section (the paper's Table 7): what HNSW costs and what it saves.

The paper reports that approximate nearest-neighbour search (HNSW) loses little retrieval
quality against exact search while being faster. Both halves need evidence a reader can
check, so the section shows, per dataset and encoder, the exact and the HNSW engine side
by side: index build time and memory, single-query latency, batched throughput, Recall@100
against the relevant documents (from the summary, like every other table) and the share of
the exact top-k that HNSW recovers; then an ef sweep (how that share trades against speed)
and, per language pair, where the approximation loses most. Timings are only comparable on
one machine under one protocol, so the caption says how and where they were measured, and
names each machine when the measurements were not all taken on the same one.

Inputs, both written by the ANN stage: one efficiency JSON per (dataset, encoder)
(`read_ann_efficiency`) and one overlap parquet per dataset (`read_ann_overlap`).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.intermediate import read_parquet, reading
from clirbench.ann.overlap import OVERLAP_SCHEMA
from clirbench.core.systems import condition_sort_key
from clirbench.evaluate.metrics import ALL
from clirbench.report.common import MISSING, condition_label, format_value
from clirbench.report.ef_sweep_figure import SweepCurve, SweepPoint, ef_sweep_png

RECALL_METRIC = "recall@100"  # the summary's metric shown beside the timings
EXACT_ENGINE = "exact"
HNSW_ENGINE = "hnsw"
EFFICIENCY_KEYS = ("dataset", "condition", "encoder", "system", "exact_system", "documents",
                   "queries", "top_k", "rounds", "latency_queries", "search_threads",
                   "settings", "machine", "engines")  # fmt: skip
ENGINE_KEYS = ("engine", "build_seconds", "index_bytes", "latency_p50_ms", "latency_p95_ms",
               "queries_per_second", "overlap_at_k")  # fmt: skip
SWEEP_KEYS = ("ef", "search_ef", "queries_per_second", "overlap_at_k")
OVERLAP_KEYS = ["dataset", "condition", "system", "query_lang", "doc_lang"]
MACHINE_KEYS = ("cpu", "cores", "platform")  # the rest of "machine" are library versions
BYTES_PER_MB = 1_000_000


@dataclass(frozen=True)
class EngineRow:
    """One engine's row of the efficiency table, every value formatted."""

    engine: str  # "exact" or "hnsw"
    system: str  # its name in the summary (and so in every other table)
    build_seconds: str
    index_mb: str
    latency_p50_ms: str
    latency_p95_ms: str
    queries_per_second: str
    recall: str
    overlap: str


@dataclass(frozen=True)
class EfficiencyGroup:
    """The exact and HNSW rows of one (dataset, condition, encoder)."""

    dataset: str
    condition: str
    encoder: str
    documents: str
    queries: str
    rows: list[EngineRow]


@dataclass(frozen=True)
class OverlapRow:
    """Per (dataset, condition, system): the overlap over its language pairs."""

    dataset: str
    condition: str
    system: str
    pairs: int
    mean: str
    lowest_pair: str  # "query_lang → doc_lang"
    lowest: str
    units: str


@dataclass(frozen=True)
class Measurement:
    """One way the timings were taken (a machine, a protocol or the HNSW settings), and the
    (dataset, condition, encoder) measured that way; `runs` is empty when all were."""

    text: str
    runs: list[str]


def read_ann_efficiency(path: Path) -> dict[str, Any]:
    """An ANN efficiency JSON (one per dataset and encoder): its exact and HNSW engines, the
    machine, settings and ef sweep."""
    with reading(path):
        efficiency = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = [key for key in EFFICIENCY_KEYS
               if not isinstance(efficiency, dict) or key not in efficiency]  # fmt: skip
    if missing:
        raise ValueError(f"{path}: not an ANN efficiency summary (no {', '.join(missing)})")
    engines = [engine.get("engine") if isinstance(engine, dict) else None
               for engine in efficiency["engines"]]  # fmt: skip
    if sorted(map(str, engines)) != [EXACT_ENGINE, HNSW_ENGINE]:
        raise ValueError(
            f"{path}: engines are {engines}; expected one {EXACT_ENGINE!r} and one "
            f"{HNSW_ENGINE!r}"
        )
    for engine in efficiency["engines"]:
        if absent := [key for key in ENGINE_KEYS if key not in engine]:
            raise ValueError(f"{path}: engine {engine['engine']!r} has no {', '.join(absent)}")
    for point in efficiency.get("ef_sweep") or []:
        if absent := [key for key in SWEEP_KEYS if key not in point]:
            raise ValueError(f"{path}: an ef_sweep point has no {', '.join(absent)}")
    return efficiency


def format_overlap(value: float | None) -> str:
    """Overlap at four decimals: HNSW typically misses a few documents in ten thousand,
    which the report's usual three decimals would round to a perfect 1.000."""
    return MISSING if value is None or math.isnan(value) else f"{value:.4f}"


def read_ann_overlap(paths: Sequence[Path]) -> pl.DataFrame:
    """The overlap parquets (one per dataset) stacked, in `OVERLAP_SCHEMA`'s columns."""
    frames = []
    for path in paths:
        table = read_parquet(path)
        missing = [column for column in OVERLAP_SCHEMA if column not in table.columns]
        if missing:
            raise ValueError(f"{path}: not an ANN overlap table (no column {', '.join(missing)})")
        try:
            frames.append(
                table.select([pl.col(name).cast(dtype) for name, dtype in OVERLAP_SCHEMA.items()])
            )
        except pl.exceptions.PolarsError as error:
            message = f"{path}: the overlap table's units must be integers, its overlap numbers"
            raise ValueError(message) from error
    return pl.concat(frames) if frames else pl.DataFrame(schema=OVERLAP_SCHEMA)


def approximate_search(
    efficiency: Sequence[Mapping[str, Any]],
    overlap: pl.DataFrame | None,
    summary: pl.DataFrame,
) -> dict[str, Any] | None:
    """The section's context, or None when there is nothing to show (no input given).

    `efficiency`: the efficiency JSONs' contents (`read_ann_efficiency`); `overlap`: the
    stacked overlap tables (`read_ann_overlap`); `summary`: summary.csv, for Recall@100.
    """
    overlap_rows = [] if overlap is None else overlap_table(overlap)
    if not efficiency and not overlap_rows:
        return None
    ordered = _ordered(efficiency)
    top_ks = sorted({int(entry["top_k"]) for entry in ordered})
    top_k = f"exact top {top_ks[0]}" if len(top_ks) == 1 else "exact top k"
    curves = ef_sweep_curves(ordered)
    figure = None if not curves else ef_sweep_png(curves, top_k)
    return {
        "efficiency": [_group(entry, summary) for entry in ordered],
        "top_k": top_k,
        "machines": _measurements(ordered, _machine_text),
        "protocols": _measurements(ordered, _protocol_text),
        "settings": _measurements(ordered, _settings_text),
        "figure": None if figure is None else base64.b64encode(figure).decode("ascii"),
        "figure_alt": f"Overlap with the {top_k} against queries per second, per value of ef",
        "overlap": overlap_rows,
    }


def overlap_table(overlap: pl.DataFrame) -> list[OverlapRow]:
    """One row per (dataset, condition, system), by dataset, condition (the metric tables'
    order) and system. Pairs without an overlap value (no unit) are left out."""
    duplicated = overlap.filter(pl.struct(OVERLAP_KEYS).is_duplicated())
    if duplicated.height:
        example = ", ".join(map(str, duplicated.row(0)[: len(OVERLAP_KEYS)]))
        raise ValueError(f"the ANN overlap tables give a language pair twice ({example})")
    valued = overlap.filter(pl.col("overlap").is_not_null() & pl.col("overlap").is_not_nan())
    keys = sorted(
        set(valued.select("dataset", "condition", "system").iter_rows()),
        key=lambda key: (key[0], condition_sort_key(key[1]), key[2]),
    )
    rows = []
    for dataset, condition, system in keys:
        pairs = valued.filter(
            (pl.col("dataset") == dataset) & (pl.col("condition") == condition)
            & (pl.col("system") == system)
        ).sort("overlap", "query_lang", "doc_lang")  # fmt: skip
        lowest = pairs.row(0, named=True)
        rows.append(
            OverlapRow(
                dataset=dataset,
                condition=condition,
                system=system,
                pairs=pairs.height,
                mean=format_overlap(_mean(pairs["overlap"].to_list())),
                lowest_pair=f"{lowest['query_lang']} → {lowest['doc_lang']}",
                lowest=format_overlap(lowest["overlap"]),
                units=f"{int(pairs['units'].fill_null(0).sum()):,}",
            )
        )
    return rows


def ef_sweep_curves(efficiency: Sequence[Mapping[str, Any]]) -> list[SweepCurve]:
    """One curve per efficiency entry with an ef sweep, a panel per dataset and condition."""
    curves = []
    for entry in efficiency:
        points = [
            SweepPoint(int(p["ef"]), int(p["search_ef"]), float(p["queries_per_second"]),
                       float(p["overlap_at_k"]))  # fmt: skip
            for p in entry.get("ef_sweep") or []
            if p["queries_per_second"] is not None and p["overlap_at_k"] is not None
        ]
        if not points:
            continue
        exact = _engine(entry, EXACT_ENGINE)["queries_per_second"]
        curves.append(
            SweepCurve(
                panel=f"{entry['dataset']}, {condition_label(str(entry['condition']))}",
                encoder=str(entry["encoder"]),
                points=points,
                configured_search_ef=_integer(entry["settings"].get("search_ef")),
                exact_queries_per_second=None if exact is None else float(exact),
            )
        )
    return curves


def _ordered(efficiency: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By dataset, condition (the metric tables' order), encoder; each at most once."""
    seen: set[tuple[str, str, str]] = set()
    for entry in efficiency:
        key = (str(entry["dataset"]), str(entry["condition"]), str(entry["encoder"]))
        if key in seen:
            raise ValueError(f"ANN efficiency given twice for {'/'.join(key)}")
        seen.add(key)
    return sorted(
        efficiency,
        key=lambda e: (str(e["dataset"]), condition_sort_key(str(e["condition"])),
                       str(e["encoder"])),
    )  # fmt: skip


def _group(entry: Mapping[str, Any], summary: pl.DataFrame) -> EfficiencyGroup:
    dataset, condition = str(entry["dataset"]), str(entry["condition"])
    systems = {EXACT_ENGINE: str(entry["exact_system"]), HNSW_ENGINE: str(entry["system"])}
    rows = []
    for engine_name in (EXACT_ENGINE, HNSW_ENGINE):
        engine = _engine(entry, engine_name)
        system = systems[engine_name]
        index_bytes = engine["index_bytes"]
        rows.append(
            EngineRow(
                engine=engine_name,
                system=system,
                build_seconds=_number(engine["build_seconds"], "{:,.2f}"),
                index_mb=_number(None if index_bytes is None else index_bytes / BYTES_PER_MB,
                                 "{:,.2f}"),  # fmt: skip
                # Three decimals: single queries of a small pool take hundredths of a ms.
                latency_p50_ms=_number(engine["latency_p50_ms"], "{:,.3f}"),
                latency_p95_ms=_number(engine["latency_p95_ms"], "{:,.3f}"),
                queries_per_second=_number(engine["queries_per_second"], "{:,.0f}"),
                recall=format_value(summary_value(summary, dataset, condition, system)),
                overlap=format_overlap(_float(engine["overlap_at_k"])),
            )
        )
    return EfficiencyGroup(
        dataset=dataset,
        condition=condition,
        encoder=str(entry["encoder"]),
        documents=_number(entry["documents"], "{:,}"),
        queries=_number(entry["queries"], "{:,}"),
        rows=rows,
    )


def summary_value(
    summary: pl.DataFrame, dataset: str, condition: str, system: str,
    metric: str = RECALL_METRIC,
) -> float | None:  # fmt: skip
    """The macro average (query_lang = doc_lang = "all") of `metric`, or None if absent."""
    values = summary.filter(
        (pl.col("dataset") == dataset) & (pl.col("condition") == condition)
        & (pl.col("system") == system) & (pl.col("metric") == metric)
        & (pl.col("query_lang") == ALL) & (pl.col("doc_lang") == ALL)
    )["value"].to_list()  # fmt: skip
    return _float(values[0]) if values else None


def _engine(entry: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return next(engine for engine in entry["engines"] if engine["engine"] == name)


def _measurements(
    efficiency: Sequence[Mapping[str, Any]], describe: Callable[[Mapping[str, Any]], str]
) -> list[Measurement]:
    """The distinct descriptions, in order; each with its runs only when they differ."""
    runs: dict[str, list[str]] = {}
    for entry in efficiency:
        label = f"{entry['dataset']} ({condition_label(str(entry['condition']))}), "
        runs.setdefault(describe(entry), []).append(label + str(entry["encoder"]))
    if len(runs) == 1:
        return [Measurement(text, []) for text in runs]
    return [Measurement(text, labels) for text, labels in runs.items()]


def _machine_text(entry: Mapping[str, Any]) -> str:
    """The machine, the search threads and the library versions (python first, then by name:
    a JSON writer may have sorted the keys), as one sentence part."""
    machine: Mapping[str, Any] = entry["machine"]
    cores = machine.get("cores")
    threads = _integer(entry["search_threads"])
    text = str(machine.get("cpu") or "unknown CPU")
    text += f" ({'?' if cores is None else cores} cores"
    text += f"; {machine['platform']})" if machine.get("platform") else ")"
    text += f", {threads} search thread{'' if threads == 1 else 's'}"
    libraries = sorted((name for name in machine if name not in MACHINE_KEYS),
                       key=lambda name: (name != "python", name))  # fmt: skip
    versions = [f"{name} {machine[name]}" for name in libraries if machine[name] is not None]
    return text + (f"; {', '.join(versions)}" if versions else "")


def _protocol_text(entry: Mapping[str, Any]) -> str:
    rounds, queries = _integer(entry["rounds"]), _integer(entry["latency_queries"])
    return (
        f"{rounds} round{'' if rounds == 1 else 's'}, single-query latency over "
        f"{_number(queries, '{:,}')} quer{'y' if queries == 1 else 'ies'}"
    )


def _settings_text(entry: Mapping[str, Any]) -> str:
    settings: Mapping[str, Any] = entry["settings"]
    adaptive = " (adaptive: max(ef, 2k))" if settings.get("adaptive_ef") else ""
    return (
        f"M {settings.get('M')}, ef_construction {settings.get('ef_construction')}, "
        f"ef {settings.get('ef')} requested, searched with ef {settings.get('search_ef')}"
        f"{adaptive} for k = {entry['top_k']}, seed {settings.get('seed')}, "
        f"{settings.get('build_threads')} build thread"
        f"{'' if settings.get('build_threads') == 1 else 's'}"
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _number(value: Any, pattern: str) -> str:
    """`value` formatted by `pattern`, or a dash when missing (None or NaN): the exact
    engine has no build time."""
    number = _float(value)
    if number is None:
        return MISSING
    return pattern.format(int(number) if pattern == "{:,}" else number)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
