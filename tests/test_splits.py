"""The evaluated, training and validation queries: chosen once, and nothing leaks."""

from __future__ import annotations

import random

import polars as pl
import pytest

from clirbench.core.datamodel import QUERIES_SCHEMA, QRELS_SCHEMA
from clirbench.data.cldr_cards import build_cldr_cards
from clirbench.data.splits import choose_query_sets


def assert_no_leak(sets: dict[str, pl.DataFrame], qrels: pl.DataFrame, threshold: int) -> None:
    """No evaluated query, and no query sharing a relevant document with one, is trained on."""
    evaluated = set(sets["evaluated"]["query_id"])
    relevant = qrels.filter(pl.col("relevance") >= threshold)
    evaluated_docs = set(relevant.filter(pl.col("query_id").is_in(evaluated))["doc_id"])
    for name in ("train", "dev"):
        ids = set(sets[name]["query_id"])
        assert not ids & evaluated, f"{name} holds evaluated queries"
        their_docs = set(relevant.filter(pl.col("query_id").is_in(ids))["doc_id"])
        assert not their_docs & evaluated_docs, f"{name} shares relevant documents with test"


def test_a_training_query_sharing_a_relevant_document_with_a_test_query_is_left_out() -> None:
    queries = pl.DataFrame(
        [
            ("q-test", "en", "capital of Finland", "test"),
            ("q-leak", "de", "Hauptstadt Finnlands", "train"),
            ("q-train", "de", "Hauptstadt Schwedens", "train"),
            ("q-dev", "fr", "capitale de la Norvège", "dev"),
            ("q-dev-leak", "fr", "capitale de la Finlande", "dev"),
        ],
        schema=QUERIES_SCHEMA,
        orient="row",
    )
    qrels = pl.DataFrame(
        [
            ("q-test", "d-helsinki", 1),
            ("q-leak", "d-helsinki", 1),
            ("q-train", "d-stockholm", 1),
            ("q-dev", "d-oslo", 1),
            ("q-dev-leak", "d-helsinki", 2),
            # judged but below the threshold: shares nothing relevant
            ("q-train", "d-helsinki", 0),
        ],
        schema=QRELS_SCHEMA,
        orient="row",
    )
    sets = choose_query_sets(queries, qrels, "test", relevance_threshold=1)
    assert sets["evaluated"]["query_id"].to_list() == ["q-test"]
    assert sets["train"]["query_id"].to_list() == ["q-train"]
    assert sets["dev"]["query_id"].to_list() == ["q-dev"]
    assert_no_leak(sets, qrels, 1)


def test_evaluating_every_query_leaves_nothing_to_train_on() -> None:
    cards = build_cldr_cards(["en", "de", "ja"], ["currency"], 30, 3, {"train": 0.5, "test": 0.5})
    sets = choose_query_sets(cards.queries, cards.qrels, "all", relevance_threshold=1)
    assert sets["evaluated"].height == cards.queries.height
    assert sets["train"].is_empty() and sets["dev"].is_empty()


@pytest.mark.parametrize("shuffle_splits", [False, True])
def test_no_leak_on_real_data(shuffle_splits: bool) -> None:
    """The demo's cards split by entity (nothing to remove); with the splits shuffled per query,
    as a collection's own splits may be, the guard must remove every leaking query."""
    cards = build_cldr_cards(
        ["en", "de", "es", "ja", "zh"], ["territory", "currency"], 120, 7,
        {"train": 0.6, "dev": 0.1, "test": 0.3},
    )  # fmt: skip
    queries = cards.queries
    if shuffle_splits:
        rng = random.Random(1)
        queries = queries.with_columns(
            split=pl.Series([rng.choice(["train", "dev", "test"]) for _ in range(queries.height)])
        )
    sets = choose_query_sets(queries, cards.qrels, "test", relevance_threshold=1)
    assert_no_leak(sets, cards.qrels, 1)
    assert sets["evaluated"].height == queries.filter(pl.col("split") == "test").height
    assert sets["evaluated"]["query_id"].is_sorted()
    if shuffle_splits:
        # Leaking queries existed and were removed, but not every training query.
        train = queries.filter(pl.col("split") == "train").height
        assert 0 < sets["train"].height < train
    else:
        # Entity-level splits leak nothing: every training query stays.
        assert sets["train"].height == queries.filter(pl.col("split") == "train").height
