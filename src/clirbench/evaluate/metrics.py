"""Retrieval metrics per evaluation unit, computed like trec_eval.

The paper evaluates each language pair separately: a query whose relevant documents are
written in several languages is scored once per language, each time against only the
relevant documents in that language, while the ranking itself stays the full run.  Such a
(query, document language) combination is an *evaluation unit* (`evaluation.unit:
query-doc-language`, the default).  Collections whose queries have relevant documents in
several languages at once (LAReQA, XQuAD-R) are usually compared on the standard per-query
figures instead, one ranking against all relevant documents, which can differ by a factor
of two: `evaluation.unit: query` scores each query once, and labels its unit with the
language its relevant documents share, or "mul" (ISO 639: multiple languages) when they are
in several, so every table downstream keeps its (query_lang, doc_lang) columns.

Judged queries the run has nothing for, or whose run holds none of their relevant
documents, score 0, as with `trec_eval -c` and ir-measures (pytrec_eval on its own leaves
queries absent from the run out, which raises its averages).  Metrics at a cutoff deeper
than the run (`retrieval.top_k`), and full average precision ("map") whenever the run is
shorter than the document pool, are cut by the run depth: `clirbench.evaluate.coverage`
names them and counts the empty queries.

All metrics are computed at once with polars joins and group-bys, so 100k queries with
100 retrieved documents each take seconds, not the minutes a per-query Python loop would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from clirbench.core.intermediate import reading

logger = logging.getLogger(__name__)

# "map@100" is trec_eval's map_cut_100 (ir-measures' AP@100): the precision at each relevant
# document ranked within 100, summed and divided by all relevant documents of the unit;
# "map" is average precision over the whole run (full AP only when the run holds the whole
# pool); "p@1" is the accuracy of one-relevant tasks.
METRICS: tuple[str, ...] = (
    "recall@100", "recall@10", "ndcg@100", "ndcg@10", "mrr@10", "map@100", "map", "p@1", "recall@1"
)  # fmt: skip
DEPTH = 100  # deepest cutoff of any metric@k; only "map" reads the run below it
SHALLOW = 10
ALL = "all"  # language label of the macro-average rows
# evaluation.unit: one unit per (query, document language), the paper's; or one per query.
QUERY_DOC_LANGUAGE, QUERY = "query-doc-language", "query"
UNITS = (QUERY_DOC_LANGUAGE, QUERY)
MULTIPLE = "mul"  # a `query` unit's doc_lang when its relevant documents are in several

UNIT_KEYS = ["query_id", "query_lang", "doc_lang"]
# n_queries: the evaluation units behind the value, so every number a reader compares comes
# with its sample size (a pair's queries; on the macro rows, the units of all pairs).
SUMMARY_COLUMNS = [
    "dataset", "condition", "system", "query_lang", "doc_lang", "metric", "value", "n_queries"
]  # fmt: skip


def evaluate_run(
    run: pl.DataFrame,
    qrels: pl.DataFrame,
    queries: pl.DataFrame,
    docs: pl.DataFrame,
    relevance_threshold: int = 1,
    unit: str = QUERY_DOC_LANGUAGE,
) -> pl.DataFrame:
    """Score every evaluation unit of `queries`; long table query_id, query_lang, doc_lang, metric, value.

    `unit` is `evaluation.unit` (see the module's docstring).  Queries of `queries` without
    any relevant document are dropped (logged with their count; `queries_without_relevant`
    lists them).  Judged queries missing from the run score 0, like `trec_eval -c`.  Run
    rows of queries outside `queries` are ignored.
    """
    relevant = unit_judgements(
        relevant_judgements(qrels, queries, docs, relevance_threshold), unit
    )
    dropped = queries.height - relevant.select(pl.col("query_id").n_unique()).item()
    if dropped:
        logger.info(
            "dropped %d of %d queries without a document of relevance >= %d",
            dropped,
            queries.height,
            relevance_threshold,
        )
    units = _unit_ideals(relevant)
    # The whole run, not its top DEPTH: "map" reads every retrieved document.
    hits = _unit_hits(_ranked_positions(run), relevant)
    scored = units.join(hits, on=["query_id", "doc_lang"], how="left").fill_null(0)
    return _long_metrics(_metric_columns(scored))


def unit_judgements(relevant: pl.DataFrame, unit: str) -> pl.DataFrame:
    """`relevant_judgements` with doc_lang the evaluation unit's document language label.

    query-doc-language: each document's own language, so a query has one unit per language
    of its relevant documents.  query: one unit per query, labelled with the language all
    its relevant documents share, else MULTIPLE ("mul").
    """
    if unit == QUERY_DOC_LANGUAGE:
        return relevant
    if unit != QUERY:
        raise ValueError(f"evaluation.unit: {unit!r} is not one of {', '.join(UNITS)}")
    shared = pl.col("doc_lang").n_unique().over("query_id") == 1
    return relevant.with_columns(
        doc_lang=pl.when(shared).then(pl.col("doc_lang")).otherwise(pl.lit(MULTIPLE))
    )


def queries_without_relevant(
    qrels: pl.DataFrame, queries: pl.DataFrame, relevance_threshold: int = 1
) -> pl.DataFrame:
    """The queries (query_id, lang) that `evaluate_run` drops: no judged-relevant document."""
    relevant_ids = qrels.filter(pl.col("relevance") >= relevance_threshold).select("query_id")
    return (
        queries.select("query_id", "lang")
        .join(relevant_ids.unique(), on="query_id", how="anti")
        .sort("query_id")
    )


def relevant_judgements(
    qrels: pl.DataFrame,
    queries: pl.DataFrame,
    docs: pl.DataFrame,
    relevance_threshold: int = 1,
) -> pl.DataFrame:
    """Relevant judgements of `queries` with both languages attached.

    Columns query_id, query_lang, doc_id, doc_lang, relevance.  Judgements of queries outside
    `queries` (e.g. other splits) are left out; a relevant document missing from `docs` is an
    error, because silently dropping it would inflate recall.
    """
    # Below 1, judged non-relevant documents would count as relevant with gain <= 0.
    if relevance_threshold < 1:
        raise ValueError(f"relevance_threshold must be >= 1, got {relevance_threshold}")
    _require_unique(qrels, ["query_id", "doc_id"], "qrels")
    _require_unique(queries, ["query_id"], "queries")
    relevant = qrels.filter(pl.col("relevance") >= relevance_threshold).join(
        queries.select("query_id", query_lang="lang"), on="query_id", how="inner"
    )
    relevant_docs = relevant.select("doc_id").unique()
    doc_langs = docs.select("doc_id", doc_lang="lang").join(relevant_docs, on="doc_id", how="semi")
    _require_unique(doc_langs, ["doc_id"], "docs")
    with_langs = relevant.join(doc_langs, on="doc_id", how="left")
    unknown = with_langs.filter(pl.col("doc_lang").is_null())
    if unknown.height:
        examples = ", ".join(unknown["doc_id"].head(5).to_list())
        raise ValueError(
            f"{unknown.height} relevant judgements name documents missing from the docs "
            f"table (e.g. {examples}); their language, hence their evaluation unit, is unknown"
        )
    return with_langs.select(
        "query_id", "query_lang", "doc_id", "doc_lang", pl.col("relevance").cast(pl.Int64)
    )


def summarise_pairs(per_unit: pl.DataFrame) -> pl.DataFrame:
    """Mean per (query_lang, doc_lang) pair plus the macro average over pairs.

    Columns query_lang, doc_lang, metric, value, n_queries.  The rows with
    query_lang = doc_lang = "all" average the pair means (every pair weighs the same, as in
    the paper), and their n_queries counts all evaluation units.
    """
    if per_unit.filter((pl.col("query_lang") == ALL) | (pl.col("doc_lang") == ALL)).height:
        raise ValueError(f"language code {ALL!r} is reserved for the macro average")
    # Floating-point sums depend on the order of their terms, and group_by yields groups in
    # no fixed order: sorting first (group_by keeps the order within each group) makes the
    # means, hence summary.csv, byte-identical between runs.
    pairs = (
        per_unit.sort("query_lang", "doc_lang", "metric", "query_id")
        .group_by("query_lang", "doc_lang", "metric", maintain_order=True)
        .agg(pl.col("value").mean(), n_queries=pl.len().cast(pl.Int64))
    )
    macro = pairs.group_by("metric", maintain_order=True).agg(
        query_lang=pl.lit(ALL),
        doc_lang=pl.lit(ALL),
        value=pl.col("value").mean(),
        n_queries=pl.col("n_queries").sum(),
    )
    summary = pl.concat([pairs, macro.select(pairs.columns)])
    return _sort_summary(summary, []).select(
        "query_lang", "doc_lang", "metric", "value", "n_queries"
    )


def summary_table(pieces: Iterable[tuple[str, str, str, pl.DataFrame]]) -> pl.DataFrame:
    """Stack (dataset, condition, system, summarise_pairs output) into the summary.csv table.

    n_queries is carried over as summarise_pairs counts it: the evaluation units of the pair,
    and on the macro ("all") rows the units of all pairs averaged.
    """
    labelled: list[pl.DataFrame] = []
    seen: set[tuple[str, str, str]] = set()
    for dataset, condition, system, summary in pieces:
        if (dataset, condition, system) in seen:
            raise ValueError(f"summary given twice for {dataset}/{condition}/{system}")
        seen.add((dataset, condition, system))
        labelled.append(
            summary.select(
                dataset=pl.lit(dataset, pl.String),
                condition=pl.lit(condition, pl.String),
                system=pl.lit(system, pl.String),
                query_lang=pl.col("query_lang"),
                doc_lang=pl.col("doc_lang"),
                metric=pl.col("metric"),
                value=pl.col("value").cast(pl.Float64),
                n_queries=pl.col("n_queries").cast(pl.Int64),
            )
        )
    if not labelled:
        return pl.DataFrame(schema={name: _summary_dtype(name) for name in SUMMARY_COLUMNS})
    return _sort_summary(pl.concat(labelled), ["dataset", "condition", "system"])


def _ranked_positions(run: pl.DataFrame) -> pl.DataFrame:
    """query_id, doc_id, position (1-based) of every document of the run.

    Order is trec_eval's: score descending, ties by doc_id descending.  The file's rank
    column is ignored because trec_eval ignores it too; trusting it would make tied scores
    give numbers that no other tool reproduces.
    """
    _require_unique(run, ["query_id", "doc_id"], "run")
    # Grouping needs equal ids next to each other, not any particular order of the ids, and
    # integer codes sort several times faster than strings at 10M rows.
    query_code = pl.col("query_id").cast(pl.Categorical).to_physical().alias("query_code")
    ranked = run.select(query_code, "query_id", "doc_id", pl.col("score").cast(pl.Float64)).sort(
        ["query_code", "score", "doc_id"], descending=[False, True, True]
    )
    return ranked.with_columns(position=_position_in_block("query_code")).select(
        "query_id", "doc_id", "position"
    )


def _position_in_block(key: str) -> pl.Expr:
    """1-based row number within runs of equal `key` in a frame sorted by `key`."""
    # A linear scan: row index minus the index where the block started; `over` would need a
    # group-by over 10M rows for the same answer.
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    block_start = pl.when(pl.col(key) != pl.col(key).shift(1)).then(row)
    return row - block_start.fill_null(strategy="forward").fill_null(0) + 1


def _unit_ideals(relevant: pl.DataFrame) -> pl.DataFrame:
    """Per unit: number of relevant documents and ideal DCG at both cutoffs."""
    ideal_position = pl.int_range(1, pl.len() + 1).over("query_id", "doc_lang")
    return (
        relevant.sort(["query_id", "doc_lang", "relevance"], descending=[False, False, True])
        .with_columns(position=ideal_position)
        .group_by(UNIT_KEYS)
        .agg(
            n_relevant=pl.len(),
            idcg_100=_discounted_gain(DEPTH),
            idcg_10=_discounted_gain(SHALLOW),
        )
    )


def _unit_hits(ranked: pl.DataFrame, relevant: pl.DataFrame) -> pl.DataFrame:
    """Per unit with at least one relevant document retrieved: hit counts, DCG, reciprocal
    rank and the sums of precisions at its relevant documents' ranks (average precision
    before dividing by the unit's relevant documents)."""
    # Every document has one language, so each retrieved relevant document lands in exactly
    # one unit (its language's, or its query's): the run is shared by all units of its
    # query, never filtered by language.
    # Sorted before summing the gains, so DCG does not depend on the join's row order.
    return (
        ranked.join(
            relevant.select("query_id", "doc_id", "doc_lang", "relevance"),
            on=["query_id", "doc_id"],
            how="inner",
        )
        .sort("query_id", "doc_lang", "position")
        .group_by("query_id", "doc_lang")
        .agg(
            hits_100=(pl.col("position") <= DEPTH).sum(),
            hits_10=(pl.col("position") <= SHALLOW).sum(),
            hits_1=(pl.col("position") <= 1).sum(),
            dcg_100=_discounted_gain(DEPTH),
            dcg_10=_discounted_gain(SHALLOW),
            rr_10=(1.0 / pl.col("position")).filter(pl.col("position") <= SHALLOW).max(),
            precisions_100=_precision_sum(DEPTH),
            precisions=_precision_sum(None),
        )
    )


def _precision_sum(cutoff: int | None) -> pl.Expr:
    # The unit's hits sorted by position: the i-th sits at `position`, so the precision
    # there is i / position (trec_eval's map and map_cut).
    precision = pl.int_range(1, pl.len() + 1, dtype=pl.Int64) / pl.col("position")
    if cutoff is None:
        return precision.sum()
    return precision.filter(pl.col("position") <= cutoff).sum()


def _discounted_gain(cutoff: int) -> pl.Expr:
    # Gain is the graded relevance itself and the discount log2(rank + 1): trec_eval's ndcg_cut.
    gains = pl.col("relevance") / (pl.col("position") + 1).log(2)
    return gains.filter(pl.col("position") <= cutoff).sum()


def _metric_columns(scored: pl.DataFrame) -> pl.DataFrame:
    n_relevant = pl.col("n_relevant")
    return scored.select(
        *UNIT_KEYS,
        pl.col("hits_100").truediv(n_relevant).alias("recall@100"),
        pl.col("hits_10").truediv(n_relevant).alias("recall@10"),
        # Ideal DCG is positive: every unit has a document of relevance >= threshold >= 1.
        pl.col("dcg_100").truediv(pl.col("idcg_100")).alias("ndcg@100"),
        pl.col("dcg_10").truediv(pl.col("idcg_10")).alias("ndcg@10"),
        pl.col("rr_10").cast(pl.Float64).alias("mrr@10"),
        pl.col("precisions_100").truediv(n_relevant).alias("map@100"),
        pl.col("precisions").truediv(n_relevant).alias("map"),
        pl.col("hits_1").cast(pl.Float64).alias("p@1"),
        pl.col("hits_1").truediv(n_relevant).alias("recall@1"),
    )


def _long_metrics(wide: pl.DataFrame) -> pl.DataFrame:
    long = wide.sort(["query_lang", "doc_lang", "query_id"]).unpivot(
        on=list(METRICS), index=UNIT_KEYS, variable_name="metric", value_name="value"
    )
    # unpivot stacks metric after metric; a stable sort regroups each unit, metrics in order.
    return long.sort(["query_lang", "doc_lang", "query_id"], maintain_order=True).select(
        *UNIT_KEYS, "metric", pl.col("value").cast(pl.Float64)
    )


def _sort_summary(summary: pl.DataFrame, leading: list[str]) -> pl.DataFrame:
    """Sort pairs alphabetically, the macro rows after them, metrics in METRICS order."""
    metric_rank = pl.col("metric").replace_strict(
        {name: rank for rank, name in enumerate(METRICS)},
        default=len(METRICS),
        return_dtype=pl.Int32,
    )
    is_macro = pl.col("query_lang") == ALL
    return summary.sort([*leading, is_macro, "query_lang", "doc_lang", metric_rank, "metric"])


def _require_unique(frame: pl.DataFrame, keys: list[str], name: str) -> None:
    # Equal rows hash alike, so as many distinct hashes as rows proves the keys unique; on
    # a 10M-row run, counting hashes takes a quarter of the time of finding duplicated
    # rows, which only runs when some hash repeats (a duplicate, or a rare collision).
    if frame.select(pl.struct(keys).hash().n_unique()).item() == frame.height:
        return
    duplicated = frame.select(keys).filter(pl.struct(keys).is_duplicated())
    if duplicated.height:
        example = " ".join(str(value) for value in duplicated.row(0))
        raise ValueError(
            f"{name} has {duplicated.height} rows with a repeated {keys}, e.g. {example}"
        )


def _summary_dtype(name: str) -> type[pl.DataType]:
    return {"value": pl.Float64, "n_queries": pl.Int64}.get(name, pl.String)


def read_summary(path: Path) -> pl.DataFrame:
    """summary.csv (`summary_table`, as written) with its labels as text (a dataset named 2024
    stays "2024"), values as floats and counts as integers."""
    with reading(path):
        table = pl.read_csv(path, infer_schema=False)
    if "n_queries" not in table.columns:
        # Written before the counts were added: the report shows them beside the values.
        raise ValueError(
            f"{path}: no n_queries column (written by an older version); "
            "rerun the summarise_metrics rule"
        )
    return table.with_columns(
        pl.col("value").cast(pl.Float64), pl.col("n_queries").cast(pl.Int64)
    )
