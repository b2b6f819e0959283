"""Entry points of the retrieval rules: one TREC run per dataset, condition and system.

Both kinds search the evaluated queries (chosen once by the data stage) against the whole
document pool of one condition and keep the top `top_k` documents per query; on a dataset
whose `candidate_pool` is "group" the workflow passes its group tables, and each query
searches only its group's documents (`clirbench.core.candidate_groups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clirbench.core.candidate_groups import CandidateGroup, read_candidate_groups, search_by_group
from clirbench.core.embedding_files import vectors_in_order
from clirbench.core.intermediate import read_parquet
from clirbench.core.trec import write_run


def bm25_run(
    system: str,
    settings: dict[str, Any],
    docs_path: Path,
    queries_path: Path,
    top_k: int,
    out: Path,
    threads: int = 1,
    group_tables: tuple[Path, Path] | None = None,
) -> None:
    """BM25 run of `system` (one `bm25.<system>` entry, schema defaults filled in);
    `group_tables`: (doc_groups, query_groups) to search group by group."""
    from clirbench.retrieve.bm25 import BM25Config, bm25_search

    docs = read_parquet(docs_path, columns=["doc_id", "lang", "text"])
    queries = read_parquet(queries_path, columns=["query_id", "lang", "text"])
    groups = _groups(group_tables, docs["doc_id"].to_list(), queries["query_id"].to_list())
    indices, scores = bm25_search(
        BM25Config.from_config(system, settings), docs, queries, top_k, threads, groups
    )
    write_run(out, queries["query_id"].to_list(), docs["doc_id"].to_list(), indices, scores, system)


def dense_run(
    system: str,
    docs_path: Path,
    queries_path: Path,
    doc_vectors: Path,
    query_vectors: Path,
    top_k: int,
    out: Path,
    group_tables: tuple[Path, Path] | None = None,
) -> None:
    """Exact dense run: every query against every document (of its group, given
    `group_tables`), by the dot product."""
    # Only ids are needed here: the texts are already in the embeddings.
    doc_ids = read_parquet(docs_path, columns=["doc_id"])["doc_id"].to_list()
    query_ids = read_parquet(queries_path, columns=["query_id"])["query_id"].to_list()
    indices, scores = dense_search(
        vectors_in_order(query_vectors, query_ids),
        vectors_in_order(doc_vectors, doc_ids),
        top_k,
        _groups(group_tables, doc_ids, query_ids),
    )
    write_run(out, query_ids, doc_ids, indices, scores, system)


def dense_search(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    top_k: int,
    groups: Sequence[CandidateGroup] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top_k by the dot product; with `groups`, one group's vectors at a time."""
    from clirbench.retrieve.exact_search import exact_search

    if groups is None:
        return exact_search(query_vectors, doc_vectors, k=top_k)

    def search(group: CandidateGroup, k: int) -> tuple[np.ndarray, np.ndarray]:
        indices, scores = exact_search(query_vectors[group.queries], doc_vectors[group.docs], k=k)
        return group.to_pool(indices), scores

    return search_by_group(groups, len(query_vectors), min(top_k, len(doc_vectors)), search)


def _groups(
    group_tables: tuple[Path, Path] | None, doc_ids: list[str], query_ids: list[str]
) -> list[CandidateGroup] | None:
    if group_tables is None:
        return None
    return read_candidate_groups(*group_tables, doc_ids, query_ids)
