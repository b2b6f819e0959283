"""Searching group by group: each query retrieves only from its candidate group's documents.

A dataset with `candidate_pool: group` (MTEB's Tatoeba: each language's sentences search
that language file's English sentences only) is searched as if every group were a dataset
of its own. The unit of work is one group: its queries against its documents, by the same
engine and settings as an ungrouped search, with the results mapped back to rows of the
whole pool, so one run file per (dataset, condition, system) is written as before. Only one
group's matrices (BM25 index, score block, vectors) exist at a time.

The group tables are the prepared dataset's doc_groups.parquet and query_groups.parquet
(`clirbench.core.datamodel`, which checks that every query has exactly one group and that
its relevant documents are in it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from clirbench.core.intermediate import read_parquet


@dataclass(frozen=True)
class CandidateGroup:
    """One group: the rows of its queries in the searched query table and the rows of its
    documents in the condition's docs table (both ascending)."""

    name: str
    queries: np.ndarray  # int64
    docs: np.ndarray  # int64

    def to_pool(self, local: np.ndarray) -> np.ndarray:
        """Indices into this group's documents (-1: padding) as rows of the whole pool."""
        return np.where(local >= 0, self.docs[np.clip(local, 0, None)], -1)


def read_candidate_groups(
    doc_groups: Path, query_groups: Path, doc_ids: Sequence[str], query_ids: Sequence[str]
) -> list[CandidateGroup]:
    """The groups of the searched `query_ids`, with their documents among `doc_ids` (a
    condition's docs table); raises ValueError naming `query_groups` for a query without one."""
    queries = pl.DataFrame({"query_id": list(query_ids)}, schema={"query_id": pl.String})
    docs = pl.DataFrame({"doc_id": list(doc_ids)}, schema={"doc_id": pl.String})
    query_rows = queries.with_row_index("row").join(
        read_parquet(query_groups, columns=["query_id", "group"]), on="query_id", how="left"
    )
    ungrouped = query_rows.filter(pl.col("group").is_null())["query_id"]
    if len(ungrouped):
        shown = ", ".join(ungrouped.head(5).to_list())
        raise ValueError(
            f"{query_groups}: {len(ungrouped)} searched queries have no candidate group: {shown}"
        )
    if query_rows["query_id"].is_duplicated().any():
        raise ValueError(f"{query_groups}: a query is in more than one group")
    doc_rows = docs.with_row_index("row").join(
        read_parquet(doc_groups, columns=["doc_id", "group"]), on="doc_id"
    )
    members = {
        str(key[0]): frame["row"].sort().to_numpy().astype(np.int64)
        for key, frame in doc_rows.group_by("group")
    }
    by_group = {str(key[0]): frame["row"] for key, frame in query_rows.group_by("group")}
    empty = np.empty(0, dtype=np.int64)
    return [
        CandidateGroup(name, rows.sort().to_numpy().astype(np.int64), members.get(name, empty))
        for name, rows in sorted(by_group.items())
    ]


def group_tables(doc_groups: str | None, query_groups: str | None) -> tuple[Path, Path] | None:
    """A rule's (doc_groups, query_groups) inputs, None when it has none (the whole pool)."""
    if not doc_groups and not query_groups:
        return None
    if not doc_groups or not query_groups:
        raise ValueError("candidate groups need both doc_groups and query_groups")
    return Path(doc_groups), Path(query_groups)


Search = Callable[[CandidateGroup, int], tuple[np.ndarray, np.ndarray]]


def search_by_group(
    groups: Sequence[CandidateGroup], n_queries: int, depth: int, search: Search
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of shape (n_queries, depth) as an ungrouped search returns them,
    filled group after group by `search(group, k)`: the best min(depth, group size) pool
    rows of the group's queries, in query order, -1 for padding. A query's row ends in
    padding (-1, -inf) where its group holds fewer than `depth` documents."""
    indices = np.full((n_queries, depth), -1, dtype=np.int64)
    scores = np.full((n_queries, depth), -np.inf, dtype=np.float32)
    for group in groups:
        k = min(depth, len(group.docs))
        if k == 0 or len(group.queries) == 0:
            continue
        found, found_scores = search(group, k)
        width = found.shape[1]
        outside = found[found >= 0]
        if outside.size and not np.isin(outside, group.docs).all():
            raise RuntimeError(f"group {group.name}: the search returned a document outside it")
        indices[group.queries, :width] = found
        scores[group.queries, :width] = found_scores
    return indices, scores
