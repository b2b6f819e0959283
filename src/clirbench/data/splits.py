"""Which queries are evaluated, and which may be trained or validated on.

Chosen once per dataset, so every job reads the same tables instead of re-filtering:
- evaluated: the queries of `evaluation.query_split` ("all": every query), sorted by id
  (the order of their embedding rows and run blocks);
- train / dev: the queries of those splits that are not evaluated *and* share no relevant
  document with an evaluated query. Builders already split by unit (an entity, a topic,
  a translation cluster), but a collection's own splits (CLIRMatrix's, a local file's) need
  not; a training query whose relevant document is relevant to an evaluated query would let
  fine-tuning or re-ranking learn the test answers, so such queries are left out (logged).
"""

from __future__ import annotations

import logging

import polars as pl

log = logging.getLogger(__name__)

QUERY_SETS = ("evaluated", "train", "dev")


def evaluated_queries(queries: pl.DataFrame, query_split: str) -> pl.DataFrame:
    """The queries a run covers, in a fixed order (the order of their embedding rows)."""
    chosen = queries if query_split == "all" else queries.filter(pl.col("split") == query_split)
    return chosen.sort("query_id")


def choose_query_sets(
    queries: pl.DataFrame, qrels: pl.DataFrame, query_split: str, relevance_threshold: int
) -> dict[str, pl.DataFrame]:
    """The evaluated, train and dev query tables (columns as `queries`, sorted by query_id)."""
    evaluated = evaluated_queries(queries, query_split)
    relevant = qrels.filter(pl.col("relevance") >= relevance_threshold)
    evaluated_docs = relevant.join(evaluated.select("query_id"), on="query_id", how="semi")
    # Queries with a relevant document that is also relevant to an evaluated query.
    leaking = relevant.join(evaluated_docs.select("doc_id").unique(), on="doc_id", how="semi")
    sets = {"evaluated": evaluated}
    for split in ("train", "dev"):
        candidates = queries.filter(pl.col("split") == split).join(
            evaluated.select("query_id"), on="query_id", how="anti"
        )
        kept = candidates.join(leaking.select("query_id").unique(), on="query_id", how="anti")
        if kept.height < candidates.height:
            log.info(
                "%s: left out %d of %d queries that share a relevant document with an "
                "evaluated query",
                split,
                candidates.height - kept.height,
                candidates.height,
            )
        sets[split] = kept.sort("query_id")
    return sets
