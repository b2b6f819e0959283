"""The report rule's entry point: declared input files in, the HTML page out.

The workflow script only unpacks the `snakemake` object and calls `report`. Every input is
declared (the summary, one dataset counts file per dataset, the benchmark file of every
job), so the page shows exactly the runs of this workflow and nothing left behind by an
earlier one. Importing this module loads no stage's heavy libraries (torch, bm25s, ICU,
transformers): the report job needs polars, matplotlib and jinja2 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.evaluate.dataset_counts import read_dataset_counts
from clirbench.evaluate.coverage import read_coverage
from clirbench.evaluate.metrics import read_summary
from clirbench.report.analyses import read_tables
from clirbench.report.approximate_search import read_ann_efficiency, read_ann_overlap
from clirbench.report.fine_tuning import read_training_record
from clirbench.provenance.source import hardware
from clirbench.report.model_table import read_model_records
from clirbench.report.page import build_report
from clirbench.report.run_metadata import (
    REPORTED_LIBRARIES,
    job_times_from_benchmarks,
    library_versions,
    run_times,
    stage_times,
)
from clirbench.report.translated_conditions import read_translation_summary
from clirbench.report.translation_pilot import read_pilot_documents, read_pilot_summary

# Metadata keys that feed a section rather than being listed as they are.
CONSUMED_METADATA = ("highlighted_pairs", "translation")


def report(
    summary_path: Path,
    dataset_count_paths: list[Path],
    benchmark_paths: list[Path],
    metadata: dict[str, Any],
    out: Path,
    *,
    pilot_summary: Path | None = None,
    pilot_documents: Path | None = None,
    translation_summaries: Mapping[tuple[str, str], Path] | None = None,
    ann_efficiency: list[Path] | None = None,
    ann_overlap: list[Path] | None = None,
    fine_tuning: list[Path] | None = None,
    reranking: Mapping[str, Any] | None = None,
    analyses: Mapping[str, Any] | None = None,
    tables_out: Path | None = None,
    models: Path | None = None,
    run_coverage: Path | None = None,
) -> None:
    """Write the report page to `out`, and its tables as CSV files into `tables_out`.

    `metadata`: {"experiment": str, "config_hash": str, "models": {system: description},
    "highlighted_pairs": [[query_lang, doc_lang], ...]}; further keys are listed on the page
    as they are.  `benchmark_paths` are Snakemake benchmark files,
    `<out>/benchmarks/<rule>/<wildcards...>.tsv`; only these are read, summed per rule,
    and their modification times give the run's start, end, elapsed and busy time.
    `models`: the describe_models job's records, for the models table. The page also
    states the hardware this job runs on (`clirbench.provenance.source.hardware`).
    metadata["evaluation"] ({"unit", "top_k"}) and `run_coverage` (run_coverage.csv, the
    queries each run left empty) feed the evaluation protocol note.

    The translation stage's files, each optional (its section is left out without it):
    `pilot_summary` (the pilot's summary CSV) and `pilot_documents` (its per-document
    parquet, for example translations), `translation_summaries` ((dataset, mt-* condition)
    -> the translation summary JSON). metadata["translation"], if given: {"chosen": system
    or None, "fluency_lm", "adequacy", "documents_per_language", "seed", "skipped": [notices]}.

    The ANN stage's files, each optional (the approximate search section is left out when
    neither is given; each shows its own part): `ann_efficiency` (one efficiency JSON per
    dataset and encoder) and `ann_overlap` (one overlap parquet per dataset).

    The fine-tuning stage's records (`fine_tuning`, one training.json per trained model and
    scope) add the fine-tuning section; the re-ranking stage's (`reranking`: `records`, one
    training.json per re-ranker and dataset; `labels`, one mapping per re-ranked run, and
    aligned with them the lists of files `RERANKED_RUN_FILES`; `settings`, the stage's
    depth and queries_per_language) the re-ranking section. The analyses' files
    (`analyses`: lists of paths under ANALYSIS_TABLES' names, and `settings`, the
    significance settings) add the analyses section.
    """
    page_metadata = {k: v for k, v in metadata.items() if k not in CONSUMED_METADATA}
    page_metadata["library_versions"] = library_versions(REPORTED_LIBRARIES)
    # Each benchmark file read once: the run's times and the per-stage sums from its jobs.
    jobs = job_times_from_benchmarks(map(Path, benchmark_paths))
    page_metadata["run_times"] = run_times(jobs)
    page_metadata["hardware"] = hardware()
    if models is not None:
        page_metadata["model_records"] = read_model_records(Path(models))
    pairs = [(str(query), str(doc)) for query, doc in metadata.get("highlighted_pairs") or []]
    build_report(
        read_summary(summary_path),
        page_metadata,
        stage_times(jobs),
        pairs,
        out,
        dataset_statistics=[read_dataset_counts(Path(path)) for path in dataset_count_paths],
        pilot_summary=None if pilot_summary is None else read_pilot_summary(Path(pilot_summary)),
        pilot_documents=(
            None if pilot_documents is None else read_pilot_documents(Path(pilot_documents))
        ),
        translation_summaries={
            (str(dataset), str(condition)): read_translation_summary(Path(path))
            for (dataset, condition), path in (translation_summaries or {}).items()
        },
        translation=dict(metadata.get("translation") or {}),
        ann_efficiency=[read_ann_efficiency(Path(path)) for path in ann_efficiency or []],
        ann_overlap=(
            read_ann_overlap([Path(path) for path in ann_overlap]) if ann_overlap else None
        ),
        fine_tuning=[read_training_record(Path(path)) for path in fine_tuning or []],
        reranking=_reranking_inputs(reranking) if reranking and reranking["records"] else None,
        analyses=_analyses_inputs(analyses) if analyses else None,
        run_coverage=None if run_coverage is None else read_coverage(Path(run_coverage)),
        tables_out=tables_out,
    )


RERANKED_RUN_FILES = ("metrics", "first_stage_metrics", "queries", "injected_table")


def _reranking_inputs(reranking: Mapping[str, Any]) -> dict[str, Any]:
    """`reranking_section`'s arguments: the records read, each run's labels with its files."""
    labels = list(reranking["labels"])
    files = {name: list(reranking[name]) for name in RERANKED_RUN_FILES}
    for name, paths in files.items():
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} {name} files for {len(labels)} re-ranked runs")
    return {
        "records": [read_training_record(Path(path)) for path in reranking["records"]],
        "runs": [
            {**label, **{name: Path(files[name][i]) for name in RERANKED_RUN_FILES}}
            for i, label in enumerate(labels)
        ],
        "settings": dict(reranking["settings"]),
    }


ANALYSIS_TABLES = (
    "significance", "intervals", "own_language", "roles", "correlations", "feature_sets"
)  # fmt: skip


def _analyses_inputs(analyses: Mapping[str, Any]) -> dict[str, Any] | None:
    """`analyses_section`'s arguments: each kind of analysis file read and stacked."""
    if not any(analyses.get(name) for name in ANALYSIS_TABLES):
        return None
    return {
        **{name: read_tables([Path(p) for p in analyses.get(name) or []]) for name in ANALYSIS_TABLES},
        "settings": dict(analyses.get("settings") or {}),
    }
