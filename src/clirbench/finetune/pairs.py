"""Training and validation pairs of one fine-tuned model, and the leakage guard.

A pair is (anchor, positive) with both texts' languages: a query and a document relevant to
it (query-document level), or two texts that say the same in two languages (phrase level).
The contrastive loss takes the other pairs of a batch as negatives, so no negative column
is stored. A word-level example is a triplet: two sentences using a word in the same sense
(a word-in-context positive) and, as its negative, a sentence using the word in another
sense taken from the dataset's own negative instances.

No pair may contain what an evaluation uses: every pair whose anchor or positive equals
(after Unicode NFC, case folding and whitespace normalisation) an evaluated query or a
document relevant to one, in any dataset the model is evaluated on, is dropped and the
count logged. The query splits (`clirbench.data.splits`) already keep training queries
apart from evaluated ones; this guard also covers sources outside the datasets (Tatoeba)
and identical texts under different ids.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

PAIR_SCHEMA = {
    "anchor": pl.String,
    "positive": pl.String,
    "anchor_lang": pl.String,
    "positive_lang": pl.String,
}
PAIR_COLUMNS = list(PAIR_SCHEMA)
TRIPLET_COLUMNS = ["anchor", "positive", "negative", "anchor_lang", "positive_lang"]
TEXT_COLUMNS = ("anchor", "positive", "negative")


def normalised_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def relevant_pairs(
    queries: pl.DataFrame, qrels: pl.DataFrame, relevance_threshold: int
) -> pl.DataFrame:
    """(query_id, doc_id) of every judgement at or above the threshold, for `queries`."""
    return (
        qrels.filter(pl.col("relevance") >= relevance_threshold)
        .join(queries.select("query_id"), on="query_id", how="semi")
        .select("query_id", "doc_id")
    )


def query_document_pairs(
    queries: pl.DataFrame, qrels: pl.DataFrame, docs: pl.DataFrame, relevance_threshold: int
) -> pl.DataFrame:
    """Each query of `queries` with each of its relevant documents (query-document level)."""
    judged = relevant_pairs(queries, qrels, relevance_threshold)
    return (
        judged.join(queries.select("query_id", "text", "lang"), on="query_id")
        .join(
            docs.select("doc_id", pl.col("text").alias("doc_text"), pl.col("lang").alias("doc_lang")),
            on="doc_id",
        )
        .sort("query_id", "doc_id")
        .select(
            pl.col("text").alias("anchor"),
            pl.col("doc_text").alias("positive"),
            pl.col("lang").alias("anchor_lang"),
            pl.col("doc_lang").alias("positive_lang"),
        )
    )


def parallel_query_pairs(
    queries: pl.DataFrame,
    qrels: pl.DataFrame,
    relevance_threshold: int,
    per_language_pair: int,
    seed: int,
) -> pl.DataFrame:
    """Pairs of queries in two languages that share a relevant document (phrase level).

    In the CLDR cards these are an entity's localised names; in a collection with
    translated topics, the translations of one topic. Up to `per_language_pair` pairs per
    unordered language pair, drawn with `seed`; which side is the anchor is drawn too, so
    both directions are trained.
    """
    judged = relevant_pairs(queries, qrels, relevance_threshold).join(
        queries.select("query_id", "text", "lang"), on="query_id"
    )
    left = judged.rename({"query_id": "id_a", "text": "text_a", "lang": "lang_a"})
    right = judged.rename({"query_id": "id_b", "text": "text_b", "lang": "lang_b"})
    pairs = (
        left.join(right, on="doc_id")
        .filter(pl.col("lang_a") < pl.col("lang_b"))
        .unique(["id_a", "id_b"])
        .sort("lang_a", "lang_b", "id_a", "id_b")
    )
    sampled = (
        pairs.with_columns(
            pl.int_range(pl.len()).shuffle(seed).over("lang_a", "lang_b").alias("draw")
        )
        .filter(pl.col("draw") < per_language_pair)
        .sort("lang_a", "lang_b", "draw")
    )
    swap = pl.Series(
        [bit == "1" for bit in _seeded_bits(sampled.height, seed)], dtype=pl.Boolean
    )
    sampled = sampled.with_columns(swap.alias("swap"))

    def side(first: str, second: str) -> pl.Expr:
        return pl.when(pl.col("swap")).then(pl.col(second)).otherwise(pl.col(first))

    return sampled.select(
        side("text_a", "text_b").alias("anchor"),
        side("text_b", "text_a").alias("positive"),
        side("lang_a", "lang_b").alias("anchor_lang"),
        side("lang_b", "lang_a").alias("positive_lang"),
    )


def tatoeba_training_pairs(
    files: Mapping[str, tuple[Path, Path]], seed: int, per_language_pair: int
) -> dict[str, pl.DataFrame]:
    """LASER Tatoeba pairs (X, English) by split: "train" and "dev" (10% of the translation
    clusters), up to `per_language_pair` training pairs per language."""
    from clirbench.data.tatoeba import parallel_pairs

    pairs = parallel_pairs(files, seed, {"train": 0.9, "dev": 0.1, "test": 0.0})
    tables = {}
    for split in ("train", "dev"):
        chosen = pairs.filter(pl.col("split") == split)
        if split == "train":
            chosen = chosen.filter(pl.int_range(pl.len()).over("lang") < per_language_pair)
        tables[split] = chosen.select(
            pl.col("src_text").alias("anchor"),
            pl.col("en_text").alias("positive"),
            pl.col("lang").alias("anchor_lang"),
            pl.lit("en").alias("positive_lang"),
        )
    return tables


def word_in_context_triplets(instances: pl.DataFrame, seed: int) -> pl.DataFrame:
    """(anchor, positive, negative) from word-in-context instances (one split).

    Each same-sense instance gives (sentence_1, sentence_2); its negative is a sentence that
    the dataset itself says uses the word in another sense. Within one target word (and
    collection and language pair), same-sense instances join sentences into senses; a
    different-sense instance between two senses makes every sentence of one a negative for
    every sentence of the other. The negative is drawn with `seed` from those of the
    anchor's sense. A positive whose sense has no such instance has no negative the dataset
    vouches for and is left out (counted in the log): the loss needs one in every row.
    """
    import random

    group = ("collection", "lang_1", "lang_2", "target")
    parent: dict[tuple, tuple] = {}

    def root(node: tuple) -> tuple:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def nodes(row: dict) -> tuple[tuple, tuple]:
        key = tuple(row[column] for column in group)
        return (key, row["lang_1"], row["sentence_1"]), (key, row["lang_2"], row["sentence_2"])

    rows = list(instances.iter_rows(named=True))
    for row in rows:
        first, second = nodes(row)
        root(first), root(second)
        if row["label"]:
            parent[root(first)] = root(second)
    members: dict[tuple, set[str]] = {}
    for node in parent:
        members.setdefault(root(node), set()).add(node[2])
    other_senses: dict[tuple, set[tuple]] = {}
    for row in rows:
        if not row["label"]:
            first, second = (root(node) for node in nodes(row))
            if first != second:  # the dataset contradicting itself vouches for nothing
                other_senses.setdefault(first, set()).add(second)
                other_senses.setdefault(second, set()).add(first)
    generator = random.Random(seed)
    triplets, dropped = [], 0
    for row in rows:
        if not row["label"]:
            continue
        sense = root(nodes(row)[0])
        candidates = sorted(
            text for other in other_senses.get(sense, ()) for text in members[other]
        )
        if not candidates:
            dropped += 1
            continue
        triplets.append((row["sentence_1"], row["sentence_2"], generator.choice(candidates),
                         row["lang_1"], row["lang_2"]))
    if dropped:
        log.info("left out %d of %d same-sense instances: no different-sense instance of "
                 "their sense to take a negative from", dropped, dropped + len(triplets))
    return pl.DataFrame(triplets, schema=TRIPLET_COLUMNS, orient="row")


def word_in_context_validation(instances: pl.DataFrame) -> pl.DataFrame:
    """Labelled sentence pairs for the accuracy at a tuned threshold."""
    return instances.select(
        pl.col("sentence_1").alias("anchor"),
        pl.col("sentence_2").alias("positive"),
        pl.col("lang_1").alias("anchor_lang"),
        pl.col("lang_2").alias("positive_lang"),
        "label",
    )


def evaluated_texts(
    evaluated_queries: pl.DataFrame,
    qrels: pl.DataFrame,
    docs: Sequence[pl.DataFrame],
    relevance_threshold: int,
) -> set[str]:
    """Normalised texts of a dataset's evaluated queries and of every document (in any of
    its conditions' tables) relevant to one of them."""
    relevant = relevant_pairs(evaluated_queries, qrels, relevance_threshold)
    texts = set(map(normalised_text, evaluated_queries["text"].to_list()))
    for table in docs:
        used = table.join(relevant.select("doc_id").unique(), on="doc_id", how="semi")
        texts.update(map(normalised_text, used["text"].to_list()))
    return texts


def without_evaluated(pairs: pl.DataFrame, forbidden: set[str], what: str) -> pl.DataFrame:
    """`pairs` less every pair with a text an evaluation uses (logged with the count)."""
    if not forbidden or pairs.is_empty():
        return pairs
    columns = [pairs[column] for column in TEXT_COLUMNS if column in pairs.columns]
    clean = [
        all(normalised_text(text) not in forbidden for text in texts)
        for texts in zip(*columns, strict=True)
    ]
    kept = pairs.filter(pl.Series(clean, dtype=pl.Boolean))
    if kept.height < pairs.height:
        log.info(
            "%s: left out %d of %d pairs holding a text that an evaluation uses",
            what,
            pairs.height - kept.height,
            pairs.height,
        )
    return kept


def sampled(pairs: pl.DataFrame, limit: int | None, seed: int) -> pl.DataFrame:
    """At most `limit` rows drawn with `seed`, in their original order (all if None)."""
    if limit is None or pairs.height <= limit:
        return pairs
    return (
        pairs.with_row_index("row")
        .sample(limit, seed=seed, shuffle=False)
        .sort("row")
        .drop("row")
    )


def _seeded_bits(count: int, seed: int) -> Iterable[str]:
    import random

    generator = random.Random(seed)
    return (str(generator.getrandbits(1)) for _ in range(count))
