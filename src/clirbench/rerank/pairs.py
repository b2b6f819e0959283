"""Training pairs of one re-ranker on one dataset: labelled (query, document) pairs.

A cross-encoder learns to tell a query's relevant document from its non-relevant ones, so
its pairs are every training-split query with each relevant document (label 1) and, per
positive, `negatives_per_positive` non-relevant documents (label 0) of one of two kinds:

- easy: documents drawn at random (seeded) from the pool, never one judged relevant to the
  query;
- hard: the non-relevant documents a first-stage ranking of the training query puts
  highest (`hard_negatives_from`: a BM25 system, run here on the training queries), or the
  dataset's own judged-but-lower candidates (CLIRMatrix's graded lists), best grade first.
  A query with fewer such documents than asked (BM25 finds nothing across scripts) gets
  random ones to make up the number, so easy and hard models see as many negatives; the
  `kind` column and the log say how many.

The pairs are then split 90/10, stratified by label (the paper's), into the training set
and the evaluation set the best epoch is chosen on. Only training-split queries are used
(the data stage's split keeps them from sharing a relevant document with an evaluated
query), and a pair whose query, or whose relevant document, is a text an evaluation uses is
left out as well (`clirbench.finetune.pairs.evaluated_texts`).
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from clirbench.finetune.pairs import normalised_text, relevant_pairs
from clirbench.rerank.specs import EASY, HARD

log = logging.getLogger("clirbench")

PAIR_COLUMNS = ["query_id", "doc_id", "query", "document", "label", "kind", "split"]
TRAIN, VALIDATION = "train", "validation"
POSITIVE = "positive"


def training_pairs(
    queries: pl.DataFrame,
    qrels: pl.DataFrame,
    docs: pl.DataFrame,
    relevance_threshold: int,
    negatives: str,
    negatives_per_positive: int,
    seed: int,
    candidates: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Labelled pairs of `queries` (the training split) in `PAIR_COLUMNS` order, without the
    split yet (`split` is null). `candidates` (hard negatives): query_id, doc_id, rank, best
    first; a relevant document among them is skipped."""
    positives = relevant_pairs(queries, qrels, relevance_threshold)
    wanted = positives.group_by("query_id").len("positives").with_columns(
        wanted=pl.col("positives") * negatives_per_positive
    )
    # Every judgement at or above the threshold: never a negative of its query.
    judged_relevant = qrels.filter(pl.col("relevance") >= relevance_threshold).select(
        "query_id", "doc_id"
    )
    if negatives == EASY:
        chosen = _random_negatives(wanted, judged_relevant, docs["doc_id"], seed)
        chosen = chosen.with_columns(kind=pl.lit(EASY))
    elif negatives == HARD:
        if candidates is None:
            raise ValueError("hard negatives need the candidate ranking of the training queries")
        chosen = _top_negatives(wanted, judged_relevant, candidates).with_columns(
            kind=pl.lit(HARD)
        )
        chosen = pl.concat([chosen, _random_top_up(wanted, chosen, judged_relevant, docs, seed)])
    else:
        raise ValueError(f"unknown negatives kind {negatives!r} (easy or hard)")
    labelled = pl.concat(
        [
            positives.with_columns(label=pl.lit(1.0), kind=pl.lit(POSITIVE)),
            chosen.select("query_id", "doc_id", "kind").with_columns(label=pl.lit(0.0)),
        ],
        how="diagonal",
    )
    return (
        labelled.join(queries.select("query_id", pl.col("text").alias("query")), on="query_id")
        .join(docs.select("doc_id", pl.col("text").alias("document")), on="doc_id")
        .with_columns(split=pl.lit(None, dtype=pl.String))
        .sort("query_id", "label", "doc_id", descending=[False, True, False])
        .select(PAIR_COLUMNS)
    )


def _random_negatives(
    wanted: pl.DataFrame, relevant: pl.DataFrame, doc_ids: pl.Series, seed: int
) -> pl.DataFrame:
    """Per query, `wanted` distinct documents drawn uniformly from the pool, none relevant."""
    generator = np.random.default_rng(seed)
    pool = np.asarray(doc_ids.sort().to_list(), dtype=object)
    relevant_by_query = {
        query: set(ids) for query, ids in relevant.group_by("query_id").agg("doc_id").iter_rows()
    }
    rows: list[tuple[str, str]] = []
    for query, count in wanted.sort("query_id").select("query_id", "wanted").iter_rows():
        excluded = relevant_by_query.get(query, set())
        allowed = len(pool) - len(excluded)
        target = min(count, allowed)
        picks: dict[str, None] = {}  # distinct, in the order drawn
        # Draws with replacement, repeats and relevant documents rejected: a few documents
        # out of a pool of millions cost a few draws, not a permutation of the pool.
        while len(picks) < target:
            for index in generator.integers(0, len(pool), size=2 * (target - len(picks)) + 8):
                doc = str(pool[index])
                if doc not in excluded and len(picks) < target:
                    picks.setdefault(doc)
        rows.extend((query, doc) for doc in picks)
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String}, orient="row")


def _random_top_up(
    wanted: pl.DataFrame,
    chosen: pl.DataFrame,
    relevant: pl.DataFrame,
    docs: pl.DataFrame,
    seed: int,
) -> pl.DataFrame:
    """Random negatives for the queries with fewer hard ones than wanted, so that a hard
    model sees as many negatives as an easy one (never a chosen or relevant document)."""
    found = chosen.group_by("query_id").len("found")
    short = (
        wanted.join(found, on="query_id", how="left")
        .with_columns(wanted=pl.col("wanted") - pl.col("found").fill_null(0))
        .filter(pl.col("wanted") > 0)
    )
    if short.is_empty():
        return chosen.clear()
    log.info("%d of %d training queries have fewer hard negatives than asked: random ones "
             "make up the %d missing (kind: easy)", short.height, wanted.height,
             int(short["wanted"].sum()))
    excluded = pl.concat([relevant, chosen.select("query_id", "doc_id")])
    return _random_negatives(short, excluded, docs["doc_id"], seed).with_columns(
        kind=pl.lit(EASY)
    )


def _top_negatives(
    wanted: pl.DataFrame, relevant: pl.DataFrame, candidates: pl.DataFrame
) -> pl.DataFrame:
    """Per query, its `wanted` best-ranked candidates that are not relevant to it."""
    return (
        candidates.join(relevant, on=["query_id", "doc_id"], how="anti")
        .join(wanted.select("query_id", "wanted"), on="query_id")
        .sort("query_id", "rank", "doc_id")
        .filter(pl.int_range(pl.len()).over("query_id") < pl.col("wanted"))
        .select("query_id", "doc_id")
    )


def judged_candidates(qrels: pl.DataFrame, relevance_threshold: int) -> pl.DataFrame:
    """The dataset's judged documents below the threshold, as a ranking per query (best
    grade first, then by id): CLIRMatrix's lists hold a query's candidates graded 0-6."""
    return (
        qrels.filter(pl.col("relevance") < relevance_threshold)
        .sort(["query_id", "relevance", "doc_id"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("query_id"))
        .select("query_id", "doc_id", "rank")
    )


def without_evaluated_texts(pairs: pl.DataFrame, forbidden: set[str], what: str) -> pl.DataFrame:
    """`pairs` less those whose query, or whose relevant document, is a text an evaluation
    uses (a negative may be any pool document: only relevance is a label to leak)."""
    if not forbidden or pairs.is_empty():
        return pairs
    clean = [
        normalised_text(query) not in forbidden
        and (label == 0.0 or normalised_text(document) not in forbidden)
        for query, document, label in pairs.select("query", "document", "label").iter_rows()
    ]
    kept = pairs.filter(pl.Series(clean, dtype=pl.Boolean))
    if kept.height < pairs.height:
        log.info("%s: left out %d of %d pairs holding a text that an evaluation uses",
                 what, pairs.height - kept.height, pairs.height)
    return kept


def stratified_split(pairs: pl.DataFrame, validation_share: float, seed: int) -> pl.DataFrame:
    """`pairs` with `split` set: `validation_share` of each label's pairs for validation,
    the rest for training (scikit-learn's stratified split, seeded)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(pairs.height)
    labels = pairs["label"].to_numpy()
    if min(np.bincount(labels.astype(np.int64), minlength=2)) < 2:
        raise ValueError(
            f"{pairs.height} pairs with {int(labels.sum())} positives: a stratified split "
            "needs at least two pairs of each label"
        )
    _, validation = train_test_split(
        rows, test_size=validation_share, stratify=labels, random_state=seed
    )
    is_validation = np.zeros(pairs.height, dtype=bool)
    is_validation[validation] = True
    return pairs.with_columns(
        split=pl.when(pl.Series(is_validation)).then(pl.lit(VALIDATION)).otherwise(pl.lit(TRAIN))
    )
