"""Entry points of the approximate-search rules: index, run, efficiency record, overlap.

- `hnsw_index`: the HNSW index of one (dataset, condition, encoder) pool, from the store
  (`clirbench.ann.index_store`) or built into it;
- `hnsw_run`: the `<encoder>+hnsw` system's TREC run, searched in that index (group by
  group, through hnswlib's filter, on a dataset whose `candidate_pool` is "group");
- `ann_efficiency`: exact search and HNSW timed side by side on one pool
  (`clirbench.ann.efficiency`), over the whole pool even when the runs search by group: it
  times the engines, not the study's task;
- `ann_overlap`: per language pair, the share of each exact run's top k that its HNSW run
  returns (`clirbench.ann.overlap`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from clirbench.ann.efficiency import measure_efficiency
from clirbench.ann.hnsw import HnswSettings, hnsw_search
from clirbench.ann.index_store import export_index, open_index, stored_index
from clirbench.ann.overlap import OVERLAP_SCHEMA, pair_overlap
from clirbench.core.atomic import write_json, write_parquet
from clirbench.core.candidate_groups import CandidateGroup, read_candidate_groups, search_by_group
from clirbench.core.embedding_files import (
    read_embedding_fingerprint,
    read_embeddings,
    vectors_in_order,
)
from clirbench.core.intermediate import read_parquet, reading
from clirbench.core.trec import read_run, write_run

log = logging.getLogger("clirbench")


def hnsw_index(
    encoder: dict[str, Any],
    stage: dict[str, Any],
    doc_vectors: Path,
    store: Path,
    index_out: Path,
    meta_out: Path,
) -> None:
    """Write the pool's index and its record. `encoder`: its name and settings, for the
    record, which adds the fingerprint the embedding job stored with the vectors; `stage`:
    `stages.ann_search`, defaults filled in."""
    ids, vectors = read_embeddings(doc_vectors)
    identity = {**encoder, "fingerprint": read_embedding_fingerprint(doc_vectors)}
    settings = HnswSettings.from_config(stage)
    stored = stored_index(store, ids, vectors, settings, {"encoder": identity})
    export_index(stored, index_out, meta_out)


def hnsw_run(
    system: str,
    stage: dict[str, Any],
    docs_path: Path,
    queries_path: Path,
    index_path: Path,
    meta_path: Path,
    query_vectors: Path,
    top_k: int,
    out: Path,
    threads: int = 1,
    group_tables: tuple[Path, Path] | None = None,
) -> None:
    """The HNSW system's run: every evaluated query, its top_k from the index (from its
    group's documents only, given `group_tables`: (doc_groups, query_groups))."""
    settings = HnswSettings.from_config(stage)
    index, meta = open_index(index_path, meta_path)
    doc_ids = read_parquet(docs_path, columns=["doc_id"])["doc_id"].to_list()
    if meta["doc_ids"] != doc_ids:
        raise ValueError(
            f"{meta_path}: the index holds other documents than {docs_path} "
            "(the index is older than the table): delete the index to rebuild it"
        )
    query_ids = read_parquet(queries_path, columns=["query_id"])["query_id"].to_list()
    vectors = vectors_in_order(query_vectors, query_ids)
    ef = settings.search_ef(top_k)
    depth = min(top_k, len(doc_ids))
    expected = np.full(len(query_ids), depth)  # documents each query can get
    if group_tables is None:
        indices, scores = hnsw_search(index, vectors, top_k, ef, threads)
    else:

        def search(group: CandidateGroup, k: int) -> tuple[np.ndarray, np.ndarray]:
            # Labels are rows of the pool (the index's doc_ids are the table's, checked above).
            return hnsw_search(index, vectors[group.queries], k, ef, threads, group.docs)

        groups = read_candidate_groups(*group_tables, doc_ids, query_ids)
        indices, scores = search_by_group(groups, len(query_ids), depth, search)
        for group in groups:
            expected[group.queries] = min(depth, len(group.docs))
    short = int(((indices >= 0).sum(axis=1) < expected).sum())
    if short:
        log.warning(
            "%d of %d queries got fewer documents from the graph than their pool holds (up "
            "to %d; ef %d, M %d)",
            short, len(query_ids), depth, ef, settings.M,
        )
    write_run(out, query_ids, doc_ids, indices, scores, system)


def ann_efficiency(
    labels: dict[str, str],
    stage: dict[str, Any],
    docs_path: Path,
    queries_path: Path,
    doc_vectors: Path,
    query_vectors: Path,
    top_k: int,
    out: Path,
) -> None:
    """The efficiency record of one pool; `labels`: dataset, condition, encoder, system and
    exact_system, written into the record for the report."""
    efficiency = stage["efficiency"]
    doc_ids = read_parquet(docs_path, columns=["doc_id"])["doc_id"].to_list()
    query_ids = read_parquet(queries_path, columns=["query_id"])["query_id"].to_list()
    record = measure_efficiency(
        vectors_in_order(doc_vectors, doc_ids),
        vectors_in_order(query_vectors, query_ids),
        HnswSettings.from_config(stage),
        top_k,
        rounds=int(efficiency["rounds"]),
        latency_queries=int(efficiency["latency_queries"]),
        ef_sweep=[int(ef) for ef in efficiency["ef_sweep"]],
        search_threads=int(stage["search_threads"]),
    )
    write_json({**labels, **record}, out)


def ann_overlap(
    dataset: str,
    pairs: list[dict[str, str]],
    exact_runs: list[Path],
    hnsw_runs: list[Path],
    exact_units: list[Path],
    docs_path: Path,
    out: Path,
) -> None:
    """Per-pair overlap of every HNSW run with its exact run, stacked for one dataset.

    `pairs[i]` ({condition, encoder, system}) labels `exact_runs[i]`, `hnsw_runs[i]` and
    `exact_units[i]` (the exact run's per-unit metrics, whose units are kept). Pairs are
    keyed by the original document language (`docs_path`), in every condition.
    """
    if not len(pairs) == len(exact_runs) == len(hnsw_runs) == len(exact_units):
        raise ValueError("one exact run, one HNSW run and one units file per pair")
    docs = read_parquet(docs_path, columns=["doc_id", "lang"])
    pieces = [pl.DataFrame(schema=OVERLAP_SCHEMA)]
    for labels, exact_path, hnsw_path, units_path in zip(
        pairs, exact_runs, hnsw_runs, exact_units, strict=True
    ):
        with reading(exact_path):
            exact = read_run(exact_path)
        with reading(hnsw_path):
            approximate = read_run(hnsw_path)
        units = read_parquet(units_path, columns=["query_id", "query_lang", "doc_lang"])
        per_pair = pair_overlap(exact, approximate, units, docs)
        pieces.append(
            per_pair.with_columns(
                dataset=pl.lit(dataset),
                condition=pl.lit(labels["condition"]),
                encoder=pl.lit(labels["encoder"]),
                system=pl.lit(labels["system"]),
            ).select(list(OVERLAP_SCHEMA)).cast(OVERLAP_SCHEMA)  # type: ignore[arg-type]
        )
    write_parquet(pl.concat(pieces), out)

