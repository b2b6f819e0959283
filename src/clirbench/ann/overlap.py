"""How much of exact search's ranking HNSW gives back, per language pair.

The unit is the evaluation unit of the metrics (a query and one document language, see
`clirbench.evaluate.metrics`): for each, the share of the exact run's top k documents in that
language that the HNSW run also retrieves. Averaged per (query language, document language)
pair, it says where approximation loses documents, whatever their relevance; Recall@100
against the judgements says what that costs. One columnar pass per run pair, no loop per
query.
"""

from __future__ import annotations

import polars as pl

from clirbench.evaluate.metrics import DEPTH

# The overlap table's columns (the report reads them, so it imports this).
OVERLAP_SCHEMA: dict[str, type[pl.DataType]] = {
    "dataset": pl.String,
    "condition": pl.String,
    "encoder": pl.String,
    "system": pl.String,
    "query_lang": pl.String,
    "doc_lang": pl.String,
    "units": pl.Int64,
    "overlap": pl.Float64,
}


def pair_overlap(
    exact_run: pl.DataFrame,
    approximate_run: pl.DataFrame,
    units: pl.DataFrame,
    docs: pl.DataFrame,
    depth: int = DEPTH,
) -> pl.DataFrame:
    """Mean overlap per pair: columns query_lang, doc_lang, units, overlap.

    `units`: query_id, query_lang, doc_lang (the evaluated units); `docs`: doc_id, lang.
    A unit whose exact top `depth` holds no document of its language has nothing to lose
    and is left out (counted in neither column).
    """
    languages = docs.select("doc_id", doc_lang="lang")
    exact = _top(exact_run, depth).join(languages, on="doc_id", how="inner")
    approximate = _top(approximate_run, depth).select("query_id", "doc_id", kept=pl.lit(True))
    per_unit = (
        exact.join(approximate, on=["query_id", "doc_id"], how="left")
        .group_by("query_id", "doc_lang")
        .agg(share=pl.col("kept").fill_null(False).mean())
        .join(units.select("query_id", "query_lang", "doc_lang").unique(),
              on=["query_id", "doc_lang"], how="inner")
    )
    return (
        per_unit.sort("query_lang", "doc_lang", "query_id")
        .group_by("query_lang", "doc_lang", maintain_order=True)
        .agg(units=pl.len().cast(pl.Int64), overlap=pl.col("share").mean())
    )


def _top(run: pl.DataFrame, depth: int) -> pl.DataFrame:
    return run.filter(pl.col("rank") <= depth).select("query_id", "doc_id")
