"""Language bias of a system: whose language does it retrieve? (the paper's Figures 6 and 8)

The unit of work is one run (dataset, condition, system) and its queries. A multilingual
encoder that prefers documents in the query's own language, or in English, whatever is
relevant, loses cross-lingual recall; these two views show it independently of relevance:

- own-language share: of the top 1 and the top 10 documents of each query, the fraction
  written in the query's language (averaged over queries, per query language and overall);
- where the relevant documents are all in other languages than the query's: how the top 10
  split between the query's language, the relevant documents' languages and the rest,
  against the share each would have if languages were retrieved uniformly (their number of
  languages over the pool's), and the same per retrieved language for the figure.

Document languages are the original ones (docs.parquet) in every condition, so a translated
condition shows whose documents are retrieved, not which script they are now in.
"""

from __future__ import annotations

import polars as pl

DEPTHS = (1, 10)
ALL = "all"
QUERY_LANGUAGE, RELEVANT_LANGUAGE, OTHER_LANGUAGE = "query language", "relevant language", "other"


def top_documents(run: pl.DataFrame, depth: int) -> pl.DataFrame:
    """query_id, doc_id, position (1-based, by rank then score) of each query's top `depth`."""
    return (
        run.sort(["query_id", "rank", "score"], descending=[False, False, True])
        .with_columns(position=pl.int_range(1, pl.len() + 1).over("query_id"))
        .filter(pl.col("position") <= depth)
        .select("query_id", "doc_id", "position")
    )


def _with_languages(top: pl.DataFrame, queries: pl.DataFrame, docs: pl.DataFrame) -> pl.DataFrame:
    return top.join(
        queries.select("query_id", pl.col("lang").alias("query_lang")), on="query_id"
    ).join(docs.select("doc_id", pl.col("lang").alias("retrieved_lang")), on="doc_id")


def own_language_share(
    run: pl.DataFrame, queries: pl.DataFrame, docs: pl.DataFrame
) -> pl.DataFrame:
    """depth, query_lang (or "all"), share, n_queries: the mean over the evaluated queries of
    the fraction of their top `depth` documents written in their own language. A query the
    run retrieved nothing for counts with share 0 (as it counts 0 in the metrics)."""
    deepest = _with_languages(top_documents(run, max(DEPTHS)), queries, docs)
    pieces = []
    for depth in DEPTHS:
        top = deepest.filter(pl.col("position") <= depth)
        per_query = (
            queries.select("query_id", pl.col("lang").alias("query_lang"))
            .join(
                top.group_by("query_id").agg(
                    own=(pl.col("retrieved_lang") == pl.col("query_lang")).sum(),
                    retrieved=pl.len(),
                ),
                on="query_id",
                how="left",
            )
            .with_columns(
                share=(pl.col("own") / pl.col("retrieved")).fill_null(0.0).fill_nan(0.0)
            )
            # Joins leave rows in no fixed order, and a float mean depends on the order of
            # its terms: sorted, the tables are byte-identical from run to run.
            .sort("query_id")
        )
        by_language = per_query.group_by("query_lang").agg(
            share=pl.col("share").mean(), n_queries=pl.len()
        )
        overall = per_query.select(
            query_lang=pl.lit(ALL), share=pl.col("share").mean(), n_queries=pl.len()
        )
        pieces.append(
            pl.concat([by_language, overall]).with_columns(depth=pl.lit(depth, pl.Int64))
        )
    return (
        pl.concat(pieces)
        .select("depth", "query_lang", "share", pl.col("n_queries").cast(pl.Int64))
        .sort("depth", pl.col("query_lang") == ALL, "query_lang")
    )


def cross_language_queries(
    queries: pl.DataFrame, docs: pl.DataFrame, qrels: pl.DataFrame, relevance_threshold: int
) -> pl.DataFrame:
    """query_id, query_lang, relevant_langs (list): the queries with relevant documents, none
    of them in the query's language."""
    relevant = (
        qrels.filter(pl.col("relevance") >= relevance_threshold)
        .join(docs.select("doc_id", "lang"), on="doc_id")
        .join(queries.select("query_id", pl.col("lang").alias("query_lang")), on="query_id")
        .group_by("query_id", "query_lang")
        .agg(relevant_langs=pl.col("lang").unique().sort())
    )
    return relevant.filter(
        ~pl.col("relevant_langs").list.contains(pl.col("query_lang"))
    ).sort("query_id")


def cross_language_top(
    run: pl.DataFrame,
    queries: pl.DataFrame,
    docs: pl.DataFrame,
    qrels: pl.DataFrame,
    relevance_threshold: int,
    depth: int = max(DEPTHS),
) -> pl.DataFrame:
    """query_id, query_lang, relevant_langs, retrieved_lang: the top `depth` of each query
    whose relevant documents are all in other languages, a row per retrieved document (one
    row with retrieved_lang null for a query the run retrieved nothing for)."""
    top = top_documents(run, depth).join(
        docs.select("doc_id", pl.col("lang").alias("retrieved_lang")), on="doc_id"
    )
    return (
        cross_language_queries(queries, docs, qrels, relevance_threshold)
        .join(top.select("query_id", "retrieved_lang"), on="query_id", how="left")
        .sort("query_id", "retrieved_lang")
    )


def retrieved_language_roles(top: pl.DataFrame, pool_languages: int) -> pl.DataFrame:
    """role (query language | relevant language | other), share, uniform_share, n_queries:
    over the queries of `top` (`cross_language_top`) that retrieved something, the mean
    fraction of their retrieved documents in each role (the three sum to 1), and the
    fraction uniform retrieval over the pool's `pool_languages` languages would give (the
    roles' numbers of languages over the pool's)."""
    roles = top.with_columns(
        role=pl.when(pl.col("retrieved_lang").is_null())
        .then(None)
        .when(pl.col("retrieved_lang") == pl.col("query_lang"))
        .then(pl.lit(QUERY_LANGUAGE))
        .when(pl.col("relevant_langs").list.contains(pl.col("retrieved_lang")))
        .then(pl.lit(RELEVANT_LANGUAGE))
        .otherwise(pl.lit(OTHER_LANGUAGE))
    )
    retrieved = roles.group_by("query_id").agg(retrieved=pl.col("role").count())
    counts = roles.drop_nulls("role").group_by("query_id", "role").agg(n=pl.len())
    grid = (
        top.drop_nulls("retrieved_lang")
        .select("query_id", n_relevant_langs=pl.col("relevant_langs").list.len())
        .unique("query_id")
        .join(pl.DataFrame({"role": [QUERY_LANGUAGE, RELEVANT_LANGUAGE, OTHER_LANGUAGE]}), how="cross")
    )
    per_query = (
        grid.join(counts, on=["query_id", "role"], how="left")
        .join(retrieved, on="query_id", how="left")
        .with_columns(
            share=pl.col("n").fill_null(0) / pl.col("retrieved"),
            uniform=pl.when(pl.col("role") == QUERY_LANGUAGE)
            .then(1 / pool_languages)
            .when(pl.col("role") == RELEVANT_LANGUAGE)
            .then(pl.col("n_relevant_langs") / pool_languages)
            .otherwise((pool_languages - 1 - pl.col("n_relevant_langs")) / pool_languages),
        )
        .sort("query_id", "role")  # a fixed order of the means' terms, as above
    )
    order = {QUERY_LANGUAGE: 0, RELEVANT_LANGUAGE: 1, OTHER_LANGUAGE: 2}
    return (
        per_query.group_by("role")
        .agg(
            share=pl.col("share").mean(),
            uniform_share=pl.col("uniform").mean(),
            n_queries=pl.col("query_id").n_unique().cast(pl.Int64),
        )
        .sort(pl.col("role").replace_strict(order, return_dtype=pl.Int64))
    )


def retrieved_language_distribution(top: pl.DataFrame, languages: list[str]) -> pl.DataFrame:
    """retrieved_lang, share, uniform_share: over the queries of `top`
    (`cross_language_top`) that retrieved something, the mean share of their retrieved
    documents in each of the pool's `languages` (summing to 1), against 1 / their number."""
    retrieved = top.drop_nulls("retrieved_lang")
    totals = retrieved.group_by("query_id").agg(retrieved=pl.len())
    shares = (
        retrieved.group_by("query_id", "retrieved_lang")
        .agg(n=pl.len())
        .join(totals, on="query_id")
        .with_columns(share=pl.col("n") / pl.col("retrieved"))
        .sort("retrieved_lang", "query_id")  # a fixed order of the sums' terms, as above
    )
    answered = max(totals.height, 1)
    return (
        pl.DataFrame({"retrieved_lang": sorted(languages)})
        .join(
            shares.group_by("retrieved_lang").agg(share=pl.col("share").sum() / answered),
            on="retrieved_lang",
            how="left",
        )
        .with_columns(pl.col("share").fill_null(0.0), uniform_share=pl.lit(1 / len(languages)))
        .sort("retrieved_lang")
    )
