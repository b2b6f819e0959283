"""The report rule's entry point: declared input files in, the HTML page out.

The workflow script only unpacks the `snakemake` object and calls `report`. Every input is
declared (the summary, one dataset counts file per dataset, the benchmark file of every
job), so the page shows exactly the runs of this workflow and nothing left behind by an
earlier one. Importing this module loads no stage's heavy libraries (torch, bm25s, ICU,
transformers): the report job needs polars, matplotlib and jinja2 only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.intermediate import reading
from clirbench.evaluate.dataset_counts import read_dataset_counts
from clirbench.report.page import build_report
from clirbench.report.run_metadata import (
    REPORTED_LIBRARIES,
    library_versions,
    stage_times_from_benchmarks,
)


def report(
    summary_path: Path,
    dataset_count_paths: list[Path],
    benchmark_paths: list[Path],
    metadata: dict[str, Any],
    out: Path,
) -> None:
    """Write the report page to `out`.

    `metadata`: {"experiment": str, "config_hash": str, "models": {system: description},
    "highlighted_pairs": [[query_lang, doc_lang], ...]}; further keys are listed on the page
    as they are.  `benchmark_paths` are Snakemake benchmark files,
    `<out>/benchmarks/<rule>/<wildcards...>.tsv`; only these are read, summed per rule.
    """
    page_metadata = {key: value for key, value in metadata.items() if key != "highlighted_pairs"}
    page_metadata["library_versions"] = library_versions(REPORTED_LIBRARIES)
    pairs = [(str(query), str(doc)) for query, doc in metadata.get("highlighted_pairs") or []]
    build_report(
        read_summary(summary_path),
        page_metadata,
        stage_times_from_benchmarks(Path(path) for path in benchmark_paths),
        pairs,
        out,
        dataset_statistics=[read_dataset_counts(Path(path)) for path in dataset_count_paths],
    )


def read_summary(path: Path) -> pl.DataFrame:
    """summary.csv with its labels as text (a dataset named 2024 stays "2024")."""
    with reading(path):
        table = pl.read_csv(path, infer_schema=False)
    return table.with_columns(pl.col("value").cast(pl.Float64))
