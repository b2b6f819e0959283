from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from clirbench.core.datamodel import Dataset, DatasetError, validate, write_dataset
from clirbench.core.trec import read_qrels

SOURCES = {
    "docs": "docs.jsonl",
    "queries": "queries.tsv",
    "qrels": "qrels.trec",
    "reference_english": "en.jsonl",
}


def queries_with(**columns: list[str]) -> pl.DataFrame:
    """The two valid queries q1, q2 with some columns replaced."""
    base = {
        "query_id": ["q1", "q2"],
        "lang": ["en", "es"],
        "text": ["Finland", "Finlandia"],
        "split": ["test", "train"],
    }
    return pl.DataFrame(base | columns)


def make_dataset(**changes: pl.DataFrame) -> Dataset:
    docs = pl.DataFrame(
        {
            "doc_id": ["d1", "d2"],
            "lang": ["ja", "de"],
            "title": ["", ""],
            "text": ["フィンランド", "Finnland"],
        }
    )
    tables = {
        "docs": docs,
        "queries": queries_with(),
        "qrels": pl.DataFrame(
            {"query_id": ["q1", "q2"], "doc_id": ["d1", "d2"], "relevance": [1, 2]}
        ),
        "reference_english": docs.with_columns(lang=pl.lit("en"), text=pl.lit("Finland")),
    }
    return Dataset(**(tables | changes))


def test_valid_dataset_round_trips_through_parquet_and_trec(tmp_path: Path) -> None:
    write_dataset(make_dataset(), tmp_path, SOURCES)
    assert pl.read_parquet(tmp_path / "docs.parquet")["doc_id"].to_list() == ["d1", "d2"]
    assert read_qrels(tmp_path / "qrels.trec").equals(pl.read_parquet(tmp_path / "qrels.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "doc_groups.parquet",
        "docs.parquet",
        "docs_reference_english.parquet",
        "qrels.parquet",
        "qrels.trec",
        "queries.parquet",
        "query_groups.parquet",
    ]
    # No candidate groups defined: both group tables are written, empty.
    assert pl.read_parquet(tmp_path / "doc_groups.parquet").is_empty()
    assert pl.read_parquet(tmp_path / "query_groups.parquet").is_empty()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "docs": pl.DataFrame(
                    {
                        "doc_id": ["d1", "d1"],
                        "lang": ["ja", "de"],
                        "title": ["", ""],
                        "text": ["a", "b"],
                    }
                )
            },
            r"docs\.jsonl: 1 duplicate doc_ids: d1",
        ),
        (
            {"qrels": pl.DataFrame({"query_id": ["q1"], "doc_id": ["d9"], "relevance": [1]})},
            r"qrels\.trec: 1 judged doc_ids not in the docs table: d9",
        ),
        (
            {"qrels": pl.DataFrame({"query_id": ["q7"], "doc_id": ["d1"], "relevance": [1]})},
            r"qrels\.trec: 1 judged query_ids not in the queries table: q7",
        ),
        (
            {"queries": queries_with(text=["Finland", "  "])},
            r"queries\.tsv: 1 rows with empty text \(query_ids\): q2",
        ),
        (
            {"queries": queries_with(lang=["en", "xx"])},
            r"queries\.tsv: 1 unknown language codes: xx",
        ),
        (
            {"queries": queries_with(split=["test", "validation"])},
            r"queries\.tsv: 1 queries with a split not in",
        ),
    ],
)
def test_validator_names_file_and_offending_ids(
    change: dict[str, pl.DataFrame], message: str, tmp_path: Path
) -> None:
    with pytest.raises(DatasetError, match=message):
        write_dataset(make_dataset(**change), tmp_path, SOURCES)
    assert not list(tmp_path.iterdir()), "nothing may be written for an invalid dataset"


def test_translation_must_cover_every_document() -> None:
    partial = make_dataset().reference_english.head(1)
    with pytest.raises(DatasetError, match=r"en\.jsonl: 1 doc_ids without a translation: d2"):
        validate(make_dataset(reference_english=partial), SOURCES)


def test_long_id_lists_are_shortened() -> None:
    ids = [f"x{i:02d}" for i in range(25)]
    qrels = pl.DataFrame({"query_id": ids, "doc_id": ["d1"] * 25, "relevance": [1] * 25})
    with pytest.raises(
        DatasetError,
        match=r"25 judged query_ids not in the queries table: x00, .*x09 \(and 15 more\)",
    ):
        validate(make_dataset(qrels=qrels), SOURCES)
