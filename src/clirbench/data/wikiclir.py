"""Large-Scale CLIR (Sasaki et al. 2018, "WikiCLIR"): English queries, Wikipedia documents.

Read through ir_datasets: ``wikiclir/{collection}`` for its 25 document collections, the
paper's "25 document languages": 24 languages plus Simple English (``en-simple``, whose
documents are stored with language ``en``, so its pair is en→en). The queries are English
Wikipedia articles (title and first sentence); for each, the article in the document
language linked to it is graded 2 ("most relevant") and the articles linked to and from
that one are graded 1.

Prepared as in the paper: per document language, `queries_per_pair` English queries are
sampled with a seed from those with a relevant document; the pool is the union of the
sampled queries' judged documents (of grade `pool_min_relevance` or more, default 1: all),
each in its language. Grades are kept in the qrels (`WIKICLIR_MOST_RELEVANT` = 2 is the
cross-lingual mate; threshold 1 also counts related articles). The query text is the first
sentence (Sasaki et al.'s query; ``query_field="title"`` uses the title, ir_datasets'
default_text).

English: WikiCLIR ships no parallel English documents, so `reference_english` is
an empty table; its English conditions come from the translation stage.

Local copy: ir_datasets reads the archive wiki-clir.tar.gz (7 GB,
https://www.cs.jhu.edu/~kevinduh/a/wikiclir2018/) from
``IR_DATASETS_HOME/downloads/705abb611eb8cbab9ced2b8767a3bdb6`` (its md5) and extracts it to
``IR_DATASETS_HOME/wikiclir/source/``; an already extracted copy there is used as is
(``wiki-clir/english/wiki_en.queries``, ``wiki-clir/{language}/en2{lang}.rel`` and
``wiki-clir/{language}/wiki_{lang}.documents``; Simple English:
``wiki-clir/simple_english/en2simple.rel`` and ``.../wiki_simple.documents``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clirbench.core.datamodel import Dataset, dataset_from_rows
from clirbench.data.irds import (
    IrdsDataset,
    pool_documents,
    sample_judged_queries,
    warn_dropped,
)
from clirbench.data.document_pools import split_of

WIKICLIR_COLLECTIONS = (
    "ar", "ca", "cs", "de", "en-simple", "es", "fi", "fr", "it", "ja", "ko", "nl",
    "nn", "no", "pl", "pt", "ro", "ru", "sv", "sw", "tl", "tr", "uk", "vi", "zh",
)  # fmt: skip
WIKICLIR_QUERY_LANGUAGE = "en"
# Collections whose id is not their documents' language code.
WIKICLIR_DOC_LANGUAGE = {"en-simple": "en"}
WIKICLIR_MOST_RELEVANT = 2  # the document language's article on the query's topic
WIKICLIR_QUERY_FIELDS = ("first_sent", "title")
WIKICLIR_MD5 = "705abb611eb8cbab9ced2b8767a3bdb6"
WIKICLIR_LOCAL_COPY = (
    "put wiki-clir.tar.gz (https://www.cs.jhu.edu/~kevinduh/a/wikiclir2018/) at "
    "{home}/downloads/" + WIKICLIR_MD5 + ", or its extracted contents in {home}/wikiclir/source/ "
    "(so that {home}/wikiclir/source/wiki-clir/english/wiki_en.queries exists)"
)


def wikiclir_id(collection: str) -> str:
    return f"wikiclir/{collection}"


def _check(languages: Sequence[str], query_field: str) -> list[str]:
    if query_field not in WIKICLIR_QUERY_FIELDS:
        raise ValueError(
            f"WikiCLIR query field {query_field!r} unknown; known: {', '.join(WIKICLIR_QUERY_FIELDS)}"
        )
    collections = sorted(set(languages) - {WIKICLIR_QUERY_LANGUAGE})
    unknown = sorted(set(collections) - set(WIKICLIR_COLLECTIONS))
    if unknown:
        raise ValueError(
            f"WikiCLIR has no {', '.join(unknown)} documents; "
            f"it has {', '.join(WIKICLIR_COLLECTIONS)}"
        )
    if not collections:
        raise ValueError(f"WikiCLIR needs a document collection other than English: {languages}")
    return collections


def build_wikiclir(
    languages: Sequence[str],
    seed: int,
    split_fractions: Mapping[str, float],
    queries_per_pair: int | None = 1000,
    query_field: str = "first_sent",
    ir_datasets_home: Path | None = None,
    build_docstore: bool = False,
    pool_min_relevance: int = 1,
) -> Dataset:
    """WikiCLIR as the paper prepares it (see the module docstring).

    `languages` are the document collections (language codes and ``en-simple``); "en" (the
    query language) may be listed and is skipped. The data-model split is drawn per English
    query id, so a query has the same split with every collection. Ids: docs
    ``{collection}-{doc_id}`` (unique across collections), queries
    ``en-{collection}-{query_id}``.
    """
    collections = _check(languages, query_field)
    name = "WikiCLIR"

    def text_of(query: Any) -> str:
        return str(getattr(query, query_field))

    queries: list[tuple] = []
    qrels: list[tuple] = []
    docs: list[tuple] = []
    for collection in collections:
        lang = WIKICLIR_DOC_LANGUAGE.get(collection, collection)
        source = IrdsDataset(wikiclir_id(collection), name, WIKICLIR_LOCAL_COPY, ir_datasets_home)
        texts, judged = sample_judged_queries(
            source, text_of, queries_per_pair, seed, ("wikiclir", collection), pool_min_relevance
        )
        needed = {doc_id for judgements in judged.values() for doc_id in judgements}
        rows, available = pool_documents(source, needed, collection, lang, build_docstore)
        docs.extend(rows)
        dropped = 0
        for qid, text in texts.items():
            kept = {d: r for d, r in judged.get(qid, {}).items() if d in available}
            if not any(rel >= 1 for rel in kept.values()):
                dropped += 1
                continue
            query_id = f"{WIKICLIR_QUERY_LANGUAGE}-{collection}-{qid}"
            split = split_of(qid, seed, split_fractions)
            queries.append((query_id, WIKICLIR_QUERY_LANGUAGE, text, split))
            qrels.extend((query_id, f"{collection}-{d}", rel) for d, rel in sorted(kept.items()))
        warn_dropped(name, dropped, f"{collection} queries whose relevant documents are missing")
    return dataset_from_rows(docs, queries, qrels, [])
