"""Entry points of the evaluation rules: a run's metrics (and how many queries it left
empty), the summary table with the runs' coverage beside it, dataset counts.

Pairs are keyed by the original document language in every condition: a translated
document keeps the language of the document it translates.
"""

from __future__ import annotations

from pathlib import Path

from clirbench.core.atomic import write_csv, write_json, write_parquet
from clirbench.core.intermediate import read_parquet, reading
from clirbench.core.trec import read_run
from clirbench.evaluate.coverage import coverage_table, run_coverage
from clirbench.evaluate.dataset_counts import dataset_statistics, write_dataset_counts
from clirbench.evaluate.metrics import evaluate_run, summarise_pairs, summary_table


def evaluate(
    run_path: Path,
    qrels_path: Path,
    queries_path: Path,
    docs_path: Path,
    relevance_threshold: int,
    unit: str,
    per_query_out: Path,
    pairs_out: Path,
    coverage_out: Path,
) -> None:
    """Score one run on the evaluated queries of `queries_path`, per `unit`
    (`evaluation.unit`); `coverage_out` gets the run's `run_coverage` counts."""
    # Ids and languages only: the texts play no part in the metrics.
    queries = read_parquet(queries_path, columns=["query_id", "lang"])
    docs = read_parquet(docs_path, columns=["doc_id", "lang"])
    # evaluate_run keeps only the judgements of `queries`.
    with reading(run_path):
        run = read_run(run_path)
    per_unit = evaluate_run(
        run, read_parquet(qrels_path), queries, docs, relevance_threshold, unit
    )
    write_parquet(per_unit, per_query_out)
    write_parquet(summarise_pairs(per_unit), pairs_out)
    write_json({"unit": unit, **run_coverage(run, per_unit)}, coverage_out)


def summarise(
    runs: list[tuple[str, str, str]],
    pair_files: list[Path],
    out: Path,
    coverage_files: list[Path] | None = None,
    coverage_out: Path | None = None,
) -> None:
    """Stack the per-run pair summaries; `runs[i]` is (dataset, condition, system) of file i.
    With `coverage_files` (aligned with `runs`), their counts stacked into `coverage_out`."""
    if len(runs) != len(pair_files):
        raise ValueError(f"{len(runs)} run labels for {len(pair_files)} pair files")
    pieces = [
        (dataset, condition, system, read_parquet(path))
        for (dataset, condition, system), path in zip(runs, pair_files, strict=True)
    ]
    write_csv(summary_table(pieces), out)
    if coverage_files is not None and coverage_out is not None:
        write_csv(coverage_table(runs, coverage_files), coverage_out)


def count_dataset(
    data_folder: Path,
    kind: str,
    evaluated_queries_path: Path,
    relevance_threshold: int,
    query_split: str,
    pool_min_relevance: int | None,
    out: Path,
    query_groups: str | Path | None = None,
) -> None:
    """Documents per language and evaluated queries per language pair, for the report;
    `query_groups` when the dataset's queries search per candidate group."""
    statistics = dataset_statistics(
        data_folder,
        kind,
        read_parquet(evaluated_queries_path),
        relevance_threshold,
        query_split,
        pool_min_relevance,
        Path(query_groups) if query_groups else None,
    )
    write_dataset_counts(statistics, out)
