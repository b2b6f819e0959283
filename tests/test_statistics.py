from __future__ import annotations

from pathlib import Path

import polars as pl

from clirbench.datamodel import write_dataset
from clirbench.datasets.cldr_cards import build_cldr_cards
from clirbench.statistics import dataset_statistics

FRACTIONS = {"train": 0.5, "dev": 0.0, "test": 0.5}


def test_statistics_count_documents_per_language_and_queries_per_pair(tmp_path: Path) -> None:
    dataset = build_cldr_cards(["en", "ja", "zh"], ["territory"], 31, 7, FRACTIONS)
    folder = tmp_path / "cards"
    write_dataset(dataset, folder, {t: t for t in ("docs", "queries", "qrels", "translated_docs")})
    test_queries = dataset.queries.filter(pl.col("split") == "test")
    stats = dataset_statistics(folder, "cldr_cards", test_queries, 1, "test")
    assert stats.documents == 31 and sorted(stats.docs_per_language.values()) == [10, 10, 11]
    assert stats.per_language_range == "10–11"
    assert stats.queries == len(test_queries)
    assert sum(stats.queries_per_pair.values()) == len(test_queries)
    assert all(query != doc for query, doc in stats.queries_per_pair)
    assert len(stats.queries_per_pair) == 6 and stats.paper == {}


def test_paper_counts_are_shown_for_the_papers_collections(tmp_path: Path) -> None:
    dataset = build_cldr_cards(["en", "de"], ["currency"], 4, 1, FRACTIONS)
    write_dataset(
        dataset, tmp_path, {t: t for t in ("docs", "queries", "qrels", "translated_docs")}
    )
    stats = dataset_statistics(tmp_path, "mmarco", dataset.queries, 1, "all")
    assert stats.paper["documents"] == "7,433"
