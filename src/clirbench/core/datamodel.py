"""The canonical data model: docs, queries and qrels tables, validated before they are written.

Layout of a prepared dataset folder:
    docs.parquet                    doc_id, lang, title, text  (the multilingual pool)
    docs_reference_english.parquet  the same doc_ids, English text that ships with the
                                    source (the "reference-english" condition; empty if none)
    queries.parquet                 query_id, lang, text, split (train/dev/test)
    qrels.parquet                   query_id, doc_id, relevance (graded integers)
    qrels.trec                      the same qrels in TREC format
    doc_groups.parquet              doc_id, group: the candidate groups of each document
                                    (a document may be in several, or in none)
    query_groups.parquet            query_id, group: the one candidate group of each query

Candidate groups restrict what a query may retrieve when the dataset's `candidate_pool` is
"group": a query searches only the documents of its group, as if each group were a dataset
of its own (MTEB's Tatoeba: each language's sentences search that language file's English
sentences only). Both tables are empty when the dataset's type defines no groups; when it
does, every query is in exactly one group, that group has documents, and every relevant
document of a query is in the query's group (else it could never be retrieved).

Machine translations are not part of a prepared dataset: the translation stage writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from clirbench.core.atomic import write_parquet
from clirbench.core.languages import is_known_language
from clirbench.core.trec import write_qrels

DOCS_SCHEMA = pl.Schema(
    {"doc_id": pl.String, "lang": pl.String, "title": pl.String, "text": pl.String}
)
QUERIES_SCHEMA = pl.Schema(
    {"query_id": pl.String, "lang": pl.String, "text": pl.String, "split": pl.String}
)
QRELS_SCHEMA = pl.Schema({"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32})
DOC_GROUPS_SCHEMA = pl.Schema({"doc_id": pl.String, "group": pl.String})
QUERY_GROUPS_SCHEMA = pl.Schema({"query_id": pl.String, "group": pl.String})
SPLITS = ("train", "dev", "test")
_SHOWN_IDS = 10


class DatasetError(ValueError):
    """A dataset that breaks the data model; the message names the file and offending ids."""


@dataclass(frozen=True)
class Dataset:
    docs: pl.DataFrame
    queries: pl.DataFrame
    qrels: pl.DataFrame
    reference_english: pl.DataFrame  # empty when the source ships no English version
    # Candidate groups (module docstring); empty when the dataset defines none.
    doc_groups: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DOC_GROUPS_SCHEMA))
    query_groups: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=QUERY_GROUPS_SCHEMA)
    )


def dataset_from_rows(
    docs: list[tuple],
    queries: list[tuple],
    qrels: list[tuple],
    reference_english: list[tuple],
    doc_groups: list[tuple] | None = None,
    query_groups: list[tuple] | None = None,
) -> Dataset:
    """A Dataset from row tuples in data-model column order (no groups unless given)."""

    def table(rows: list[tuple], schema: pl.Schema) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=schema, orient="row")

    return Dataset(
        docs=table(docs, DOCS_SCHEMA),
        queries=table(queries, QUERIES_SCHEMA),
        qrels=table(qrels, QRELS_SCHEMA),
        reference_english=table(reference_english, DOCS_SCHEMA),
        doc_groups=table(doc_groups or [], DOC_GROUPS_SCHEMA),
        query_groups=table(query_groups or [], QUERY_GROUPS_SCHEMA),
    )


def _listing(values: pl.Series) -> str:
    shown = ", ".join(map(str, values.head(_SHOWN_IDS).to_list()))
    more = len(values) - _SHOWN_IDS
    return shown + (f" (and {more} more)" if more > 0 else "")


def _fail(source: str, problem: str, ids: pl.Series) -> None:
    if len(ids):
        raise DatasetError(f"{source}: {len(ids)} {problem}: {_listing(ids)}")


def _check_columns(frame: pl.DataFrame, schema: pl.Schema, source: str) -> None:
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise DatasetError(f"{source}: missing column(s) {', '.join(missing)}")


def _check_table(frame: pl.DataFrame, id_column: str, source: str) -> None:
    _fail(
        source,
        f"duplicate {id_column}s",
        frame.filter(pl.col(id_column).is_duplicated())[id_column].unique(maintain_order=True),
    )
    _fail(
        source,
        f"empty {id_column}s (row numbers)",
        frame.with_row_index().filter(pl.col(id_column).fill_null("").str.strip_chars() == "")[
            "index"
        ],
    )
    empty = frame.filter(pl.col("text").fill_null("").str.strip_chars() == "")
    _fail(source, f"rows with empty text ({id_column}s)", empty[id_column])
    languages = frame["lang"].fill_null("").unique().sort()
    unknown = languages.filter(~languages.map_elements(is_known_language, return_dtype=pl.Boolean))
    _fail(source, "unknown language codes", unknown)


def validate(dataset: Dataset, sources: dict[str, str]) -> None:
    """Raise DatasetError naming the file (from `sources`) and ids that break the data model."""
    _check_columns(dataset.docs, DOCS_SCHEMA, sources["docs"])
    _check_columns(dataset.queries, QUERIES_SCHEMA, sources["queries"])
    _check_columns(dataset.qrels, QRELS_SCHEMA, sources["qrels"])
    _check_table(dataset.docs, "doc_id", sources["docs"])
    _check_table(dataset.queries, "query_id", sources["queries"])
    bad_split = dataset.queries.filter(~pl.col("split").is_in(SPLITS))
    _fail(sources["queries"], f"queries with a split not in {SPLITS}", bad_split["query_id"])
    _check_qrels(dataset, sources["qrels"])
    _check_translation(dataset, sources.get("reference_english", "reference English docs"))
    _check_groups(
        dataset,
        sources.get("doc_groups", "the documents' candidate groups"),
        sources.get("query_groups", "the queries' candidate groups"),
    )


def _check_qrels(dataset: Dataset, source: str) -> None:
    qrels = dataset.qrels
    _fail(
        source,
        "duplicate (query_id, doc_id) judgements",
        qrels.filter(pl.struct("query_id", "doc_id").is_duplicated())["query_id"].unique(
            maintain_order=True
        ),
    )
    missing_docs = qrels.join(dataset.docs, on="doc_id", how="anti")["doc_id"].unique(
        maintain_order=True
    )
    _fail(source, "judged doc_ids not in the docs table", missing_docs)
    missing_queries = qrels.join(dataset.queries, on="query_id", how="anti")["query_id"].unique(
        maintain_order=True
    )
    _fail(source, "judged query_ids not in the queries table", missing_queries)


def _check_translation(dataset: Dataset, source: str) -> None:
    translated = dataset.reference_english
    if translated.is_empty():
        return  # a collection without translations only has the original condition
    _check_columns(translated, DOCS_SCHEMA, source)
    _check_table(translated, "doc_id", source)
    _fail(
        source,
        "doc_ids without a translation",
        dataset.docs.join(translated, on="doc_id", how="anti")["doc_id"],
    )
    _fail(
        source,
        "translations of unknown doc_ids",
        translated.join(dataset.docs, on="doc_id", how="anti")["doc_id"],
    )


def _check_groups(dataset: Dataset, doc_source: str, query_source: str) -> None:
    """Candidate groups that name known ids, one group per query, and keep every relevant
    document within reach of its query."""
    doc_groups, query_groups = dataset.doc_groups, dataset.query_groups
    if doc_groups.is_empty() and query_groups.is_empty():
        return  # the dataset defines no groups: every query searches the whole pool
    _check_columns(doc_groups, DOC_GROUPS_SCHEMA, doc_source)
    _check_columns(query_groups, QUERY_GROUPS_SCHEMA, query_source)
    for frame, id_column, source, other in (
        (doc_groups, "doc_id", doc_source, query_source),
        (query_groups, "query_id", query_source, doc_source),
    ):
        if frame.is_empty():
            raise DatasetError(
                f"{source}: no rows, but {other} has some (candidate groups need both)"
            )
        blank = _blank(id_column) | _blank("group")
        rows = frame.with_row_index().filter(blank)["index"]
        _fail(source, "rows with an empty id or group (row numbers)", rows)
    _fail(
        doc_source,
        "doc_ids listed twice in one group",
        doc_groups.filter(pl.struct("doc_id", "group").is_duplicated())["doc_id"].unique(
            maintain_order=True
        ),
    )
    _fail(
        doc_source,
        "doc_ids not in the docs table",
        doc_groups.join(dataset.docs, on="doc_id", how="anti")["doc_id"].unique(
            maintain_order=True
        ),
    )
    _fail(
        query_source,
        "query_ids not in the queries table",
        query_groups.join(dataset.queries, on="query_id", how="anti")["query_id"].unique(
            maintain_order=True
        ),
    )
    _fail(
        query_source,
        "queries in more than one group (a query has exactly one)",
        query_groups.filter(pl.col("query_id").is_duplicated())["query_id"].unique(
            maintain_order=True
        ),
    )
    _fail(
        query_source,
        "queries without a group (every query needs one)",
        dataset.queries.join(query_groups, on="query_id", how="anti")["query_id"],
    )
    empty = query_groups.join(doc_groups.select("group").unique(), on="group", how="anti")
    _fail(
        query_source,
        f"queries whose group has no document in {doc_source} (query_id: group)",
        empty.select(pl.format("{}: {}", "query_id", "group").alias("id"))["id"],
    )
    relevant = dataset.qrels.filter(pl.col("relevance") > 0).join(query_groups, on="query_id")
    outside = relevant.join(doc_groups, on=["doc_id", "group"], how="anti")
    _fail(
        doc_source,
        "relevant documents outside their query's group, which it could never retrieve "
        "(query_id -> doc_id: group)",
        outside.select(pl.format("{} -> {}: {}", "query_id", "doc_id", "group").alias("id"))["id"],
    )


def _blank(column: str) -> pl.Expr:
    return pl.col(column).fill_null("").str.strip_chars() == ""


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """Select and cast the data-model columns, in data-model order."""
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def write_dataset(dataset: Dataset, folder: Path, sources: dict[str, str]) -> None:
    """Validate, then write every table atomically (so a failed run leaves no partial dataset)."""
    validate(dataset, sources)
    write_parquet(conform(dataset.docs, DOCS_SCHEMA).sort("doc_id"), folder / "docs.parquet")
    write_parquet(
        conform(dataset.reference_english, DOCS_SCHEMA).sort("doc_id"),
        folder / "docs_reference_english.parquet",
    )
    write_parquet(
        conform(dataset.queries, QUERIES_SCHEMA).sort("query_id"), folder / "queries.parquet"
    )
    qrels = conform(dataset.qrels, QRELS_SCHEMA).sort("query_id", "doc_id")
    write_parquet(qrels, folder / "qrels.parquet")
    write_qrels(qrels, folder / "qrels.trec")
    write_parquet(
        conform(dataset.doc_groups, DOC_GROUPS_SCHEMA).sort("group", "doc_id"),
        folder / "doc_groups.parquet",
    )
    write_parquet(
        conform(dataset.query_groups, QUERY_GROUPS_SCHEMA).sort("query_id"),
        folder / "query_groups.parquet",
    )

