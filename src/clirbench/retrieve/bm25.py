"""BM25 retrieval over the multilingual pool with bm25s.

The unit of work is one (document pool, query set) pair: the pool is analysed and indexed
once, then every query is searched; lists hold only documents sharing a term with the query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bm25s
import numpy as np
import polars as pl

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
    config: BM25Config, docs: pl.DataFrame, queries: pl.DataFrame, k: int, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k document indices (into `docs` rows) and scores per query; -1 pads short lists."""
    doc_terms = analyze_all(docs["text"].to_list(), docs["lang"].to_list(), config.analyzer)
    query_terms = analyze_all(queries["text"].to_list(), queries["lang"].to_list(), config.analyzer)
    retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
    retriever.index(doc_terms, show_progress=False)
    depth = min(k, len(docs))
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
