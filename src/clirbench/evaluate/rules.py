"""Entry points of the evaluation rules: a run's metrics, the summary table, dataset counts.

Pairs are keyed by the original document language in every condition: a translated
document keeps the language of the document it translates.
"""

from __future__ import annotations

from pathlib import Path

from clirbench.core.atomic import write_csv, write_parquet
from clirbench.core.intermediate import read_parquet, reading
from clirbench.core.trec import read_run
from clirbench.evaluate.dataset_counts import dataset_statistics, write_dataset_counts
from clirbench.evaluate.metrics import evaluate_run, summarise_pairs, summary_table


def evaluate(
    run_path: Path,
    qrels_path: Path,
    queries_path: Path,
    docs_path: Path,
    relevance_threshold: int,
    per_query_out: Path,
    pairs_out: Path,
) -> None:
    """Score one run on the evaluated queries of `queries_path`."""
    # Ids and languages only: the texts play no part in the metrics.
    queries = read_parquet(queries_path, columns=["query_id", "lang"])
    docs = read_parquet(docs_path, columns=["doc_id", "lang"])
    # evaluate_run keeps only the judgements of `queries`.
    with reading(run_path):
        run = read_run(run_path)
    per_unit = evaluate_run(run, read_parquet(qrels_path), queries, docs, relevance_threshold)
    write_parquet(per_unit, per_query_out)
    write_parquet(summarise_pairs(per_unit), pairs_out)


def summarise(runs: list[tuple[str, str, str]], pair_files: list[Path], out: Path) -> None:
    """Stack the per-run pair summaries; `runs[i]` is (dataset, condition, system) of file i."""
    if len(runs) != len(pair_files):
        raise ValueError(f"{len(runs)} run labels for {len(pair_files)} pair files")
    pieces = [
        (dataset, condition, system, read_parquet(path))
        for (dataset, condition, system), path in zip(runs, pair_files, strict=True)
    ]
    write_csv(summary_table(pieces), out)


def count_dataset(
    data_folder: Path,
    kind: str,
    evaluated_queries_path: Path,
    relevance_threshold: int,
    query_split: str,
    pool_min_relevance: int | None,
    out: Path,
) -> None:
    """Documents per language and evaluated queries per language pair, for the report."""
    statistics = dataset_statistics(
        data_folder,
        kind,
        read_parquet(evaluated_queries_path),
        relevance_threshold,
        query_split,
        pool_min_relevance,
    )
    write_dataset_counts(statistics, out)
