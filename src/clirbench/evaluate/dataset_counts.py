"""Dataset statistics for the report: documents per language and queries per language pair.

The evaluate stage counts them (`dataset_statistics`) and writes one JSON file per dataset
(`write_dataset_counts`); the report reads the files (`read_dataset_counts`), so it needs
neither the datasets' tables nor the settings that decide which queries are evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.atomic import write_json
from clirbench.core.intermediate import read_parquet, reading
from clirbench.evaluate.metrics import relevant_judgements

# What the paper reports for its collections (Section 3.1, Table 1), by dataset type, so the
# report can show a rebuilt collection beside the original.
PAPER_COUNTS: dict[str, dict[str, str]] = {
    "clirmatrix": {
        "documents": "9,055",
        "per language": "1,080–1,205",
        "queries per pair": "1,000",
    },
    "mmarco": {"documents": "7,433", "queries per pair": "530–531"},
    "wikiclir": {"queries per pair": "1,000"},
}


@dataclass(frozen=True)
class DatasetStatistics:
    name: str
    kind: str
    documents: int
    docs_per_language: dict[str, int]
    queries: int
    queries_per_pair: dict[tuple[str, str], int]
    relevance_threshold: int
    query_split: str
    paper: dict[str, str] = field(default_factory=dict)
    pool_min_relevance: int | None = None  # pooled: judged documents of at least this grade
    # Evaluated-split queries with no relevant document: no unit to score, so left out of
    # every metric; the report says how many, so a shrunken query set is never silent.
    queries_without_relevant: int = 0
    # Searched per candidate group (candidate_pool: group): the groups of the evaluated
    # queries; None when every query searches the whole pool.
    candidate_groups: int | None = None
    # ... and the documents of the largest of those groups: the most any query searches.
    largest_candidate_group: int | None = None

    @property
    def searched_pool(self) -> int:
        """The most documents one query searches: its group's when searched per group."""
        if self.largest_candidate_group is not None:
            return self.largest_candidate_group
        return self.documents

    @property
    def per_language_range(self) -> str:
        return _range(self.docs_per_language.values())

    @property
    def per_pair_range(self) -> str:
        return _range(self.queries_per_pair.values())


def _range(counts: object) -> str:
    values = sorted(counts)  # type: ignore[call-overload]
    if not values:
        return "–"
    low, high = values[0], values[-1]
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def dataset_statistics(
    folder: Path,
    kind: str,
    queries: pl.DataFrame,
    relevance_threshold: int,
    query_split: str,
    pool_min_relevance: int | None = None,
    query_groups: Path | None = None,
) -> DatasetStatistics:
    """Counts over the evaluated `queries`; a query counts once per language of its relevant
    documents. `query_groups`: the dataset's table, when its queries search per group."""
    docs = read_parquet(folder / "docs.parquet", columns=["doc_id", "lang"])
    qrels = read_parquet(folder / "qrels.parquet")
    # The evaluation units themselves: a query counts once per language of its relevant docs.
    relevant = relevant_judgements(qrels, queries, docs, relevance_threshold).unique(
        ["query_id", "doc_lang"]
    )
    pairs = relevant.group_by("query_lang", "doc_lang").len()
    return DatasetStatistics(
        name=folder.name,
        kind=kind,
        documents=len(docs),
        docs_per_language=dict(sorted(docs.group_by("lang").len().iter_rows())),
        queries=relevant["query_id"].n_unique(),
        queries_per_pair={
            (q, d): n for q, d, n in pairs.sort("query_lang", "doc_lang").iter_rows()
        },
        relevance_threshold=relevance_threshold,
        query_split=query_split,
        paper=PAPER_COUNTS.get(kind, {}),
        pool_min_relevance=pool_min_relevance,
        queries_without_relevant=queries.height - relevant["query_id"].n_unique(),
        **_group_counts(folder, queries, query_groups),
    )


def _group_counts(
    folder: Path, queries: pl.DataFrame, query_groups: Path | None
) -> dict[str, int | None]:
    """candidate_groups and largest_candidate_group of the evaluated `queries` (None, None
    when they search the whole pool)."""
    if query_groups is None:
        return {"candidate_groups": None, "largest_candidate_group": None}
    groups = (
        read_parquet(query_groups, columns=["query_id", "group"])
        .join(queries.select("query_id"), on="query_id")
        .select("group")
        .unique()
    )
    sizes = (
        read_parquet(folder / "doc_groups.parquet", columns=["doc_id", "group"])
        .join(groups, on="group")
        .group_by("group")
        .len()
    )
    return {
        "candidate_groups": groups.height,
        "largest_candidate_group": int(sizes.select(pl.col("len").max().fill_null(0)).item()),
    }


def write_dataset_counts(stats: DatasetStatistics, path: Path) -> None:
    """`stats` as JSON (atomically); `queries_per_pair` as [query_lang, doc_lang, n] rows."""
    write_json(_to_json(stats), path)


def read_dataset_counts(path: Path) -> DatasetStatistics:
    """The statistics `write_dataset_counts` wrote to `path`."""
    with reading(path):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    expected = set(_to_json(_EMPTY))
    if not isinstance(data, dict) or set(data) != expected:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{path}: not a dataset counts file (keys {found}, want {sorted(expected)})"
        )
    return DatasetStatistics(
        name=str(data["name"]),
        kind=str(data["kind"]),
        documents=int(data["documents"]),
        # A list of rows, like queries_per_pair: JSON objects would not keep the order.
        docs_per_language={str(lang): int(n) for lang, n in data["docs_per_language"]},
        queries=int(data["queries"]),
        queries_per_pair={(str(q), str(d)): int(n) for q, d, n in data["queries_per_pair"]},
        relevance_threshold=int(data["relevance_threshold"]),
        query_split=str(data["query_split"]),
        paper={str(k): str(v) for k, v in data["paper"]},
        pool_min_relevance=(
            None if data["pool_min_relevance"] is None else int(data["pool_min_relevance"])
        ),
        queries_without_relevant=int(data["queries_without_relevant"]),
        candidate_groups=_optional_int(data["candidate_groups"]),
        largest_candidate_group=_optional_int(data["largest_candidate_group"]),
    )


def _to_json(stats: DatasetStatistics) -> dict[str, Any]:
    return {
        "name": stats.name,
        "kind": stats.kind,
        "documents": stats.documents,
        "docs_per_language": [[lang, n] for lang, n in stats.docs_per_language.items()],
        "queries": stats.queries,
        "queries_per_pair": [[q, d, n] for (q, d), n in stats.queries_per_pair.items()],
        "relevance_threshold": stats.relevance_threshold,
        "query_split": stats.query_split,
        "paper": [[key, value] for key, value in stats.paper.items()],
        "pool_min_relevance": stats.pool_min_relevance,
        "queries_without_relevant": stats.queries_without_relevant,
        "candidate_groups": stats.candidate_groups,
        "largest_candidate_group": stats.largest_candidate_group,
    }


_EMPTY = DatasetStatistics("", "", 0, {}, 0, {}, 0, "")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
