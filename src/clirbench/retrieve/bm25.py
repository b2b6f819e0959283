"""BM25 retrieval over the multilingual pool with bm25s.

The unit of work is one (document pool, query set) pair: the pool is analysed and indexed
once, then every query is searched; lists hold only documents sharing a term with the query.
With candidate groups (`clirbench.core.candidate_groups`) every group is indexed as a pool
of its own, so its IDF and average length are the group's, as when each group is a
separate dataset (MTEB's Tatoeba); texts are analysed once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bm25s
import numpy as np
import polars as pl

from clirbench.core.candidate_groups import CandidateGroup, search_by_group
from clirbench.core.settings import with_section_defaults
from clirbench.retrieve.text_analysis import analyze_all


@dataclass(frozen=True)
class BM25Config:
    """One `bm25.<name>` entry of the config (its defaults come from the config schema)."""

    name: str
    analyzer: str
    k1: float
    b: float
    method: str

    @classmethod
    def from_config(cls, name: str, mapping: Mapping[str, Any]) -> BM25Config:
        return cls(name=name, **with_section_defaults("bm25", name, mapping))


def bm25_search(
    config: BM25Config,
    docs: pl.DataFrame,
    queries: pl.DataFrame,
    k: int,
    threads: int = 1,
    groups: Sequence[CandidateGroup] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k document indices (into `docs` rows) and scores per query; -1 pads short lists.
    With `groups`, each query searches only its group's documents."""
    doc_terms = analyze_all(docs["text"].to_list(), docs["lang"].to_list(), config.analyzer)
    query_terms = analyze_all(queries["text"].to_list(), queries["lang"].to_list(), config.analyzer)
    depth = min(k, len(docs))
    if groups is None:
        return _retrieve(config, doc_terms, query_terms, depth, threads)

    def search(group: CandidateGroup, group_k: int) -> tuple[np.ndarray, np.ndarray]:
        indices, scores = _retrieve(
            config,
            [doc_terms[row] for row in group.docs],
            [query_terms[row] for row in group.queries],
            group_k,
            threads,
        )
        return group.to_pool(indices), scores

    return search_by_group(groups, len(queries), depth, search)


def _retrieve(
    config: BM25Config,
    doc_terms: list[list[str]],
    query_terms: list[list[str]],
    depth: int,
    threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
    retriever.index(doc_terms, show_progress=False)
    indices, scores = retriever.retrieve(
        query_terms, k=depth, show_progress=False, n_threads=threads
    )
    indices = np.asarray(indices, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    # bm25s fills the list with score-0 documents that share no term with the query; a real
    # BM25 engine (Lucene, Pyserini) does not return those, and counting them would credit
    # BM25 with chance hits on small pools.
    indices[scores <= 0] = -1
    return indices, scores
