"""Candidate groups: a query searching per group never retrieves outside its group (BM25,
exact dense and HNSW runs, through the rules' own functions), finds its group's best even
when a better document sits in another group, and group tables that break the data model
are refused naming the file and ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from clirbench.ann.rules import hnsw_index, hnsw_run
from clirbench.core.candidate_groups import group_tables, read_candidate_groups
from clirbench.core.datamodel import Dataset, DatasetError, dataset_from_rows, write_dataset
from clirbench.core.embedding_files import write_embeddings
from clirbench.core.trec import read_run
from clirbench.retrieve.rules import bm25_run, dense_run

SOURCES = {
    "docs": "docs.jsonl",
    "queries": "queries.jsonl",
    "qrels": "qrels.trec",
    "doc_groups": "doc_groups.tsv",
    "query_groups": "query_groups.tsv",
}
STAGE = {"M": 16, "ef_construction": 200, "ef": 50, "adaptive_ef": True, "seed": 1,
         "build_threads": 1, "search_threads": 1}  # fmt: skip
GROUPS = ("a", "b", "c")
DIM = 16
PER_GROUP = 12


def built_case() -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Three groups of 12 documents, and a shared document `shared` in groups a and b.

    Query q-<g>-<i> (group g) has a texts and vector whose exact copy is a document of the
    *next* group (the globally best document, which it must never get), and a close
    neighbour in its own group, its relevant document. Returns (dataset, doc vectors, query
    vectors), rows in the order of the dataset's docs and queries tables (sorted by id).
    """
    rng = np.random.default_rng(7)
    docs, doc_groups, queries, query_groups, qrels = [], [], [], [], []
    doc_vectors: dict[str, np.ndarray] = {}
    query_vectors: dict[str, np.ndarray] = {}
    words = [f"w{i}" for i in range(200)]
    for group in GROUPS:
        for i in range(PER_GROUP):
            doc_id = f"d-{group}-{i:02d}"
            text = " ".join(rng.choice(words[:100], 6))  # filler: no query word
            docs.append((doc_id, "en", "", text))
            doc_groups.append((doc_id, group))
            doc_vectors[doc_id] = rng.normal(size=DIM)
    for g, group in enumerate(GROUPS):
        for i in range(2):
            query_id, topic = f"q-{group}-{i}", rng.normal(size=DIM)
            query_words = [words[100 + 10 * (2 * g + i) + j] for j in range(4)]
            queries.append((query_id, "en", " ".join(query_words), "test"))
            query_groups.append((query_id, group))
            query_vectors[query_id] = topic
            # Its own group's answer: close, and sharing three of its four words ...
            own = f"d-{group}-{i:02d}"
            docs[[d[0] for d in docs].index(own)] = (own, "en", "", " ".join(query_words[:3]))
            doc_vectors[own] = topic + 0.3 * rng.normal(size=DIM)
            qrels.append((query_id, own, 1))
            # ... and a copy of the query in the next group: better, globally.
            other = GROUPS[(g + 1) % len(GROUPS)]
            copy = f"d-{other}-{PER_GROUP - 1 - i:02d}"
            docs.append((copy, "en", "", " ".join(query_words)))
            doc_vectors[copy] = topic
    # The dict keeps the last text of each id: the planted ones.
    docs = list({d[0]: d for d in docs}.values())
    docs.append(("shared", "en", "", "w98 w99"))
    doc_groups += [("shared", "a"), ("shared", "b")]
    doc_vectors["shared"] = rng.normal(size=DIM)
    dataset = dataset_from_rows(
        sorted(docs), sorted(queries), qrels, [], doc_groups, query_groups
    )
    doc_ids = dataset.docs.sort("doc_id")["doc_id"].to_list()
    query_ids = dataset.queries.sort("query_id")["query_id"].to_list()

    def unit(vectors: dict[str, np.ndarray], ids: list[str]) -> np.ndarray:
        matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    return dataset, unit(doc_vectors, doc_ids), unit(query_vectors, query_ids)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("grouped")
    dataset, doc_vectors, query_vectors = built_case()
    write_dataset(dataset, folder, SOURCES)
    doc_ids = pl.read_parquet(folder / "docs.parquet")["doc_id"].to_list()
    query_ids = pl.read_parquet(folder / "queries.parquet")["query_id"].to_list()
    write_embeddings(np.array(doc_ids), doc_vectors, folder / "docs.npz")
    write_embeddings(np.array(query_ids), query_vectors, folder / "queries.npz")
    groups = {
        (doc_id, group)
        for doc_id, group in pl.read_parquet(folder / "doc_groups.parquet").iter_rows()
    }
    return {
        "folder": folder,
        "tables": (folder / "doc_groups.parquet", folder / "query_groups.parquet"),
        "in_group": groups,
        "query_group": dict(pl.read_parquet(folder / "query_groups.parquet").iter_rows()),
        "relevant": dict(dataset.qrels.select("query_id", "doc_id").iter_rows()),
        "doc_vectors": doc_vectors,
        "query_vectors": query_vectors,
        "doc_ids": doc_ids,
        "query_ids": query_ids,
    }


def grouped_run(case: dict, engine: str, tmp_path: Path, grouped: bool = True) -> pl.DataFrame:
    """A run of `engine` over the case, through the rule's own function."""
    folder, out = case["folder"], tmp_path / f"{engine}.trec"
    docs, queries = folder / "docs.parquet", folder / "queries.parquet"
    tables = case["tables"] if grouped else None
    if engine == "bm25":
        bm25_run("bm25", {"analyzer": "whitespace"}, docs, queries, 100, out, group_tables=tables)
    elif engine == "dense":
        dense_run("e", docs, queries, folder / "docs.npz", folder / "queries.npz", 100, out, tables)
    else:
        index, meta = tmp_path / "hnsw.bin", tmp_path / "hnsw.json"
        hnsw_index({"name": "e"}, STAGE, folder / "docs.npz", tmp_path / "store", index, meta)
        hnsw_run("e+hnsw", STAGE, docs, queries, index, meta, folder / "queries.npz", 100, out,
                 group_tables=tables)  # fmt: skip
    return read_run(out)


@pytest.mark.parametrize("engine", ["bm25", "dense", "hnsw"])
def test_a_query_never_retrieves_outside_its_group(case: dict, engine: str, tmp_path: Path):
    run = grouped_run(case, engine, tmp_path)
    pairs = {(q, case["query_group"][q]) for q in case["query_ids"]}
    assert run["query_id"].n_unique() == len(pairs)
    for query_id, doc_id in run.select("query_id", "doc_id").iter_rows():
        assert (doc_id, case["query_group"][query_id]) in case["in_group"], (query_id, doc_id)


@pytest.mark.parametrize("engine", ["bm25", "dense", "hnsw"])
def test_the_group_s_best_ranks_first_where_the_global_best_is_elsewhere(
    case: dict, engine: str, tmp_path: Path
):
    top = grouped_run(case, engine, tmp_path).filter(pl.col("rank") == 1)
    assert dict(top.select("query_id", "doc_id").iter_rows()) == case["relevant"]
    # Searching the whole pool, every query's first document is its copy in another group.
    pooled = grouped_run(case, engine, tmp_path, grouped=False).filter(pl.col("rank") == 1)
    for query_id, doc_id in pooled.select("query_id", "doc_id").iter_rows():
        assert doc_id.split("-")[1] != case["query_group"][query_id]


def test_dense_runs_rank_each_group_exactly(case: dict, tmp_path: Path) -> None:
    # Exact and HNSW both return each group's 12-13 documents in score order (the pool is
    # tiny, so HNSW finds them all), each query's list holds only its group.
    for engine in ("dense", "hnsw"):
        run = grouped_run(case, engine, tmp_path)
        for query_id, ranked in run.group_by("query_id"):
            row = case["query_ids"].index(query_id[0])
            group = case["query_group"][query_id[0]]
            members = [i for i, d in enumerate(case["doc_ids"]) if (d, group) in case["in_group"]]
            scores = case["doc_vectors"][members] @ case["query_vectors"][row]
            expected = [case["doc_ids"][members[j]] for j in np.argsort(-scores, kind="stable")]
            assert ranked.sort("rank")["doc_id"].to_list() == expected, engine


def test_a_document_in_two_groups_is_a_candidate_of_both(case: dict, tmp_path: Path) -> None:
    run = grouped_run(case, "dense", tmp_path)
    groups_finding_it = {
        case["query_group"][q] for q in run.filter(pl.col("doc_id") == "shared")["query_id"]
    }
    assert groups_finding_it == {"a", "b"}


def test_group_tables_come_from_the_rule_inputs() -> None:
    assert group_tables(None, None) is None
    assert group_tables("d.parquet", "q.parquet") == (Path("d.parquet"), Path("q.parquet"))
    with pytest.raises(ValueError, match="both"):
        group_tables("d.parquet", None)


def test_a_searched_query_without_a_group_names_the_table(case: dict) -> None:
    doc_groups, query_groups = case["tables"]
    with pytest.raises(ValueError, match=f"{query_groups}: 1 searched queries.*q-new"):
        read_candidate_groups(doc_groups, query_groups, case["doc_ids"], ["q-a-0", "q-new"])


# --- validation of the group tables --------------------------------------------------------


def small(doc_groups: list[tuple], query_groups: list[tuple], qrels=None) -> Dataset:
    docs = [("d1", "en", "", "one"), ("d2", "en", "", "two"), ("d3", "en", "", "three")]
    queries = [("q1", "de", "eins", "test"), ("q2", "de", "zwei", "test")]
    qrels = qrels or [("q1", "d1", 1), ("q2", "d2", 1)]
    return dataset_from_rows(docs, queries, qrels, [], doc_groups, query_groups)


GOOD_DOCS = [("d1", "x"), ("d2", "y"), ("d3", "y")]
GOOD_QUERIES = [("q1", "x"), ("q2", "y")]


def test_valid_groups_are_written(tmp_path: Path) -> None:
    write_dataset(small(GOOD_DOCS, GOOD_QUERIES), tmp_path, SOURCES)
    assert pl.read_parquet(tmp_path / "query_groups.parquet").rows() == GOOD_QUERIES
    assert sorted(pl.read_parquet(tmp_path / "doc_groups.parquet").rows()) == GOOD_DOCS


@pytest.mark.parametrize(
    ("doc_groups", "query_groups", "qrels", "message"),
    [
        (GOOD_DOCS + [("d9", "x")], GOOD_QUERIES, None,
         "doc_groups.tsv: 1 doc_ids not in the docs table: d9"),
        (GOOD_DOCS + [("d1", "x")], GOOD_QUERIES, None,
         "doc_groups.tsv: 1 doc_ids listed twice in one group: d1"),
        (GOOD_DOCS, GOOD_QUERIES + [("q7", "x")], None,
         "query_groups.tsv: 1 query_ids not in the queries table: q7"),
        (GOOD_DOCS, GOOD_QUERIES + [("q1", "y")], None,
         r"query_groups.tsv: 1 queries in more than one group \(a query has exactly one\): q1"),
        (GOOD_DOCS, [("q1", "x")], None,
         r"query_groups.tsv: 1 queries without a group \(every query needs one\): q2"),
        ([("d2", "y"), ("d3", "y")], GOOD_QUERIES, None,
         r"query_groups.tsv: 1 queries whose group has no document in doc_groups.tsv "
         r"\(query_id: group\): q1: x"),
        (GOOD_DOCS, GOOD_QUERIES, [("q1", "d2", 1), ("q2", "d2", 1)],
         r"doc_groups.tsv: 1 relevant documents outside their query's group, which it could "
         r"never retrieve \(query_id -> doc_id: group\): q1 -> d2: x"),
        (GOOD_DOCS, [], None, r"query_groups.tsv: no rows, but doc_groups.tsv has some"),
        (GOOD_DOCS, [("q1", " "), ("q2", "y")], None,
         r"query_groups.tsv: 1 rows with an empty id or group \(row numbers\): 0"),
    ],
)  # fmt: skip
def test_broken_groups_name_the_file_and_ids(doc_groups, query_groups, qrels, message) -> None:
    with pytest.raises(DatasetError, match=message):
        write_dataset(small(doc_groups, query_groups, qrels), Path("/nonexistent"), SOURCES)


def test_a_judgement_of_relevance_zero_may_lie_outside_the_group(tmp_path: Path) -> None:
    qrels = [("q1", "d1", 1), ("q1", "d2", 0), ("q2", "d2", 1)]
    write_dataset(small(GOOD_DOCS, GOOD_QUERIES, qrels), tmp_path, SOURCES)
