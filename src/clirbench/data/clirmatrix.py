"""CLIRMatrix (Sun & Duh 2020), MULTI-8: Wikipedia queries and documents in 8 languages.

Read through ir_datasets. Its ids put the DOCUMENT language first:
``clirmatrix/{doc_lang}/multi8/{query_lang}/{train|dev|test1|test2}`` (and
``clirmatrix/{lang}`` for one language's document collection). Queries are Wikipedia
titles in the query language; each is judged against up to 100 documents in the document
language with grades 0-6 (Jenks-binned BM25 scores of the source article; 6 = the single
most relevant document, 0 = not retrieved in the source language).

Prepared as in the paper: for every ordered pair of different languages, `queries_per_pair`
queries are sampled with a seed (test1 has 1,000 per pair, so the default takes them all);
the document pool is the union of the sampled queries' judged documents of grade
`pool_min_relevance` or more, each in its language. Grades are kept in the qrels; the
paper's reading of relevance ("the single most relevant document") is grade
`CLIRMATRIX_MOST_RELEVANT` (6), i.e. evaluate with ``evaluation.relevance_threshold: 6``.

Why the pool defaults to grade 6 as well: the paper's counts, 9,055 documents and 1,080-1,205
per language for 7,000 queries into each language, are those of the grade-6 documents.
MULTI-8 queries are the same ~1,000 topics in every language, so the 7 query languages'
most relevant documents are mostly one article per topic; every judged document (up to 100
per query) would give tens of thousands per language. ``pool_min_relevance: 0`` pools every
judged document (then threshold 1 counts every retrieved-in-source grade).

English: CLIRMatrix ships no parallel English documents, so `reference_english` is
an empty table; its English conditions come from the translation stage.

Local copy: ir_datasets first reads ``IR_DATASETS_HOME/clirmatrix/clirmatrix_downloads.json.gz``
(the index of CLIRMatrix files, from the CLIRMatrix site) and then each file it lists, at
the ``cache_path`` it gives under ``IR_DATASETS_HOME/clirmatrix/`` (doc collections as
gzipped ``doc_id<TAB>text`` lines, query files as gzipped JSON lines with ``src_id``,
``src_query`` and ``tgt_results``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from clirbench.core.datamodel import Dataset, dataset_from_rows
from clirbench.data.irds import (
    IrdsDataset,
    pool_documents,
    sample_judged_queries,
    warn_dropped,
)
from clirbench.data.document_pools import split_of

CLIRMATRIX_MULTI8_LANGUAGES = ("ar", "de", "en", "es", "fr", "ja", "ru", "zh")
CLIRMATRIX_SPLITS = ("train", "dev", "test1", "test2")
CLIRMATRIX_COLLECTIONS = ("multi8", "bi139-base", "bi139-full")
CLIRMATRIX_MOST_RELEVANT = 6  # the paper's "single most relevant document"
CLIRMATRIX_GRADES = tuple(range(7))  # 0 (not retrieved in the source language) .. 6
CLIRMATRIX_LOCAL_COPY = (
    "put clirmatrix_downloads.json.gz (http://www.cs.jhu.edu/~shuosun/clirmatrix/data/"
    "downloads.json.gz) in {home}/clirmatrix/ and each CLIRMatrix file it lists at its "
    "cache_path under {home}/clirmatrix/"
)


def clirmatrix_id(query_lang: str, doc_lang: str, split: str, collection: str = "multi8") -> str:
    """The ir_datasets id of one pair: the document language comes first."""
    return f"clirmatrix/{doc_lang}/{collection}/{query_lang}/{split}"


def clirmatrix_pairs(languages: Sequence[str]) -> list[tuple[str, str]]:
    """Every ordered (query language, document language) pair of different languages."""
    ordered = sorted(set(languages))
    return [(src, tgt) for src in ordered for tgt in ordered if src != tgt]


def _check(languages: Sequence[str], split: str, collection: str) -> None:
    if collection not in CLIRMATRIX_COLLECTIONS:
        raise ValueError(
            f"CLIRMatrix collection {collection!r} unknown; known: {', '.join(CLIRMATRIX_COLLECTIONS)}"
        )
    if split not in CLIRMATRIX_SPLITS:
        raise ValueError(
            f"CLIRMatrix split {split!r} unknown; known: {', '.join(CLIRMATRIX_SPLITS)}"
        )
    if len(set(languages)) < 2:
        raise ValueError(f"CLIRMatrix needs at least two languages, got {list(languages)}")
    if collection == "multi8":
        unknown = sorted(set(languages) - set(CLIRMATRIX_MULTI8_LANGUAGES))
        if unknown:
            raise ValueError(
                f"CLIRMatrix MULTI-8 has no {', '.join(unknown)}; "
                f"it has {', '.join(CLIRMATRIX_MULTI8_LANGUAGES)}"
            )


def build_clirmatrix(
    languages: Sequence[str],
    seed: int,
    split_fractions: Mapping[str, float],
    queries_per_pair: int | None = 1000,
    split: str = "test1",
    collection: str = "multi8",
    ir_datasets_home: Path | None = None,
    build_docstore: bool = False,
    pool_min_relevance: int = CLIRMATRIX_MOST_RELEVANT,
) -> Dataset:
    """CLIRMatrix as the paper prepares it (see the module docstring).

    `split` is the CLIRMatrix split sampled from; `split_fractions` assign the data-model
    split (train/dev/test) per source query, so a query gets the same split in every pair.
    Queries are eligible when their text is non-empty and they have a judgement of grade
    max(1, `pool_min_relevance`) or more; `queries_per_pair` None takes all. Ids: docs
    ``{doc_lang}-{doc_id}`` (unique across languages), queries
    ``{query_lang}-{doc_lang}-{query_id}``.
    """
    _check(languages, split, collection)
    name = "CLIRMatrix"
    picked: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    texts: dict[tuple[str, str], dict[str, str]] = {}
    for src, tgt in clirmatrix_pairs(languages):
        source = IrdsDataset(
            clirmatrix_id(src, tgt, split, collection),
            name,
            CLIRMATRIX_LOCAL_COPY,
            ir_datasets_home,
        )
        labels = ("clirmatrix", src, tgt, split)
        texts[src, tgt], picked[src, tgt] = sample_judged_queries(
            source, lambda q: q.text, queries_per_pair, seed, labels, pool_min_relevance
        )

    docs: list[tuple] = []
    available: dict[str, set[str]] = {}
    for tgt in sorted(set(languages)):
        needed = {
            doc_id
            for (_, pair_tgt), judged in picked.items()
            if pair_tgt == tgt
            for judgements in judged.values()
            for doc_id in judgements
        }
        corpus = IrdsDataset(f"clirmatrix/{tgt}", name, CLIRMATRIX_LOCAL_COPY, ir_datasets_home)
        rows, available[tgt] = pool_documents(corpus, needed, tgt, tgt, build_docstore)
        docs.extend(rows)

    queries: list[tuple] = []
    qrels: list[tuple] = []
    dropped_queries = 0
    for (src, tgt), judged in sorted(picked.items()):
        for qid in sorted(judged):
            kept = {did: rel for did, rel in judged[qid].items() if did in available[tgt]}
            if not any(rel >= 1 for rel in kept.values()):
                dropped_queries += 1  # its relevant documents are missing
                continue
            query_id = f"{src}-{tgt}-{qid}"
            split_name = split_of(f"{src}-{qid}", seed, split_fractions)
            queries.append((query_id, src, texts[src, tgt][qid], split_name))
            qrels.extend((query_id, f"{tgt}-{did}", rel) for did, rel in sorted(kept.items()))
    warn_dropped(name, dropped_queries, "queries whose relevant documents are missing")
    return dataset_from_rows(docs, queries, qrels, [])
