from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from clirbench.core.datamodel import write_dataset
from clirbench.data.cldr_cards import build_cldr_cards
from clirbench.evaluate.dataset_counts import (
    PAPER_COUNTS,
    DatasetStatistics,
    dataset_statistics,
    read_dataset_counts,
    write_dataset_counts,
)

FRACTIONS = {"train": 0.5, "dev": 0.0, "test": 0.5}


def test_statistics_count_documents_per_language_and_queries_per_pair(tmp_path: Path) -> None:
    dataset = build_cldr_cards(["en", "ja", "zh"], ["territory"], 31, 7, FRACTIONS)
    folder = tmp_path / "cards"
    write_dataset(dataset, folder, {t: t for t in ("docs", "queries", "qrels", "reference_english")})
    test_queries = dataset.queries.filter(pl.col("split") == "test")
    stats = dataset_statistics(folder, "cldr_cards", test_queries, 1, "test")
    assert stats.documents == 31 and sorted(stats.docs_per_language.values()) == [10, 10, 11]
    assert stats.per_language_range == "10–11"
    assert stats.queries == len(test_queries)
    assert sum(stats.queries_per_pair.values()) == len(test_queries)
    assert all(query != doc for query, doc in stats.queries_per_pair)
    assert len(stats.queries_per_pair) == 6 and stats.paper == {}


def test_queries_without_a_relevant_document_are_counted(tmp_path: Path) -> None:
    """They are left out of every metric; the report says how many (reliability finding 8)."""
    dataset = build_cldr_cards(["en", "ja"], ["territory"], 10, 7, FRACTIONS)
    write_dataset(dataset, tmp_path, {t: t for t in ("docs", "queries", "qrels", "reference_english")})
    unjudged = pl.DataFrame(
        {"query_id": ["extra-1", "extra-2"], "lang": "en", "text": "?", "split": "test"}
    )
    queries = pl.concat([dataset.queries, unjudged])
    stats = dataset_statistics(tmp_path, "cldr_cards", queries, 1, "all")
    assert stats.queries_without_relevant == 2
    assert stats.queries == dataset.queries.height
    assert dataset_statistics(tmp_path, "cldr_cards", queries, 2, "all").queries_without_relevant == (
        queries.height
    )  # the cards' qrels are all of grade 1


def test_paper_counts_are_shown_for_the_papers_collections(tmp_path: Path) -> None:
    dataset = build_cldr_cards(["en", "de"], ["currency"], 4, 1, FRACTIONS)
    write_dataset(
        dataset, tmp_path, {t: t for t in ("docs", "queries", "qrels", "reference_english")}
    )
    stats = dataset_statistics(tmp_path, "mmarco", dataset.queries, 1, "all")
    assert stats.paper["documents"] == "7,433"


def test_dataset_counts_round_trip_through_a_file(tmp_path: Path) -> None:
    dataset = build_cldr_cards(["en", "ja", "zh"], ["territory"], 31, 7, FRACTIONS)
    folder = tmp_path / "cards"
    write_dataset(dataset, folder, {t: t for t in ("docs", "queries", "qrels", "translated_docs")})
    stats = dataset_statistics(folder, "cldr_cards", dataset.queries, 1, "all")
    path = tmp_path / "counts" / "cards.json"
    write_dataset_counts(stats, path)
    assert sorted(p.name for p in path.parent.iterdir()) == [".cards.json.written", "cards.json"]
    read = read_dataset_counts(path)
    assert read == stats
    assert list(read.queries_per_pair) == list(stats.queries_per_pair)
    assert list(read.docs_per_language) == list(stats.docs_per_language)
    rows = json.loads(path.read_text(encoding="utf-8"))["queries_per_pair"]
    assert rows == [[q, d, n] for (q, d), n in stats.queries_per_pair.items()]


def test_dataset_counts_keep_order_paper_counts_and_pool_grade(tmp_path: Path) -> None:
    stats = DatasetStatistics(
        name="clirmatrix-en",
        kind="clirmatrix",
        documents=2_310,
        docs_per_language={"en": 1_205, "de": 1_105},  # not sorted: the order is kept too
        queries=3_000,
        queries_per_pair={("en", "de"): 999, ("de", "en"): 1_000},
        relevance_threshold=6,
        query_split="test",
        paper=PAPER_COUNTS["clirmatrix"],
        pool_min_relevance=4,
    )
    path = tmp_path / "counts.json"
    write_dataset_counts(stats, path)
    read = read_dataset_counts(path)
    assert read == stats and read.pool_min_relevance == 4
    assert list(read.docs_per_language) == ["en", "de"]
    assert list(read.queries_per_pair) == [("en", "de"), ("de", "en")]
    assert list(read.paper) == list(PAPER_COUNTS["clirmatrix"])
    assert read.per_pair_range == "999–1,000"


def test_reading_something_else_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"dataset": "mkqa"}\n')
    with pytest.raises(ValueError, match="not a dataset counts file"):
        read_dataset_counts(path)


def test_candidate_groups_are_counted_when_queries_search_per_group(tmp_path: Path) -> None:
    dataset = build_cldr_cards(["en", "de"], ["territory", "currency"], 20, 3, FRACTIONS)
    write_dataset(dataset, tmp_path, {t: t for t in ("docs", "queries", "qrels")})
    whole = dataset_statistics(tmp_path, "cldr_cards", dataset.queries, 1, "all")
    grouped = dataset_statistics(
        tmp_path, "cldr_cards", dataset.queries, 1, "all",
        query_groups=tmp_path / "query_groups.parquet",
    )  # fmt: skip
    assert (whole.candidate_groups, grouped.candidate_groups) == (None, 2)
    # The most documents one query searches: its group's, the largest kind's cards.
    kinds = pl.read_parquet(tmp_path / "doc_groups.parquet").group_by("group").len()
    assert grouped.largest_candidate_group == kinds["len"].max() < grouped.documents
    assert (whole.searched_pool, grouped.searched_pool) == (20, kinds["len"].max())
    write_dataset_counts(grouped, tmp_path / "counts.json")
    assert read_dataset_counts(tmp_path / "counts.json") == grouped
