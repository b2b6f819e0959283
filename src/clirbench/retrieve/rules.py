"""Entry points of the retrieval rules: one TREC run per dataset, condition and system.

Both kinds search the evaluated queries (chosen once by the data stage) against the whole
document pool of one condition and keep the top `top_k` documents per query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
) -> None:
    """BM25 run of `system` (one `bm25.<system>` entry, schema defaults filled in)."""
    from clirbench.retrieve.bm25 import BM25Config, bm25_search

    docs = read_parquet(docs_path, columns=["doc_id", "lang", "text"])
    queries = read_parquet(queries_path, columns=["query_id", "lang", "text"])
    indices, scores = bm25_search(
        BM25Config.from_config(system, settings), docs, queries, top_k, threads
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
) -> None:
    """Exact dense run: every query against every document, by the dot product."""
    from clirbench.retrieve.exact_search import exact_search

    # Only ids are needed here: the texts are already in the embeddings.
    doc_ids = read_parquet(docs_path, columns=["doc_id"])["doc_id"].to_list()
    query_ids = read_parquet(queries_path, columns=["query_id"])["query_id"].to_list()
    indices, scores = exact_search(
        vectors_in_order(query_vectors, query_ids), vectors_in_order(doc_vectors, doc_ids), k=top_k
    )
    write_run(out, query_ids, doc_ids, indices, scores, system)
