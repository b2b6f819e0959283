"""mMARCO v2 (Bonifacio et al. 2021): MS MARCO passages and queries, parallel in 14 languages.

Read through ir_datasets: ``mmarco/v2/{code}/{subset}`` for the 13 translations (Dutch is
``dt`` there, ``nl`` here) and the original MS MARCO, ``msmarco-passage/{subset}``, for
English (ir_datasets has no English mMARCO id; mMARCO's English is MS MARCO itself). Query
and passage ids are the MS MARCO ids in every language.

Prepared as in the paper (like the XQuAD builder): the queries of `subset` that have a
judged passage (optionally a seeded sample of `max_queries` of them) and their judged
passages; a passage id is one passage, so the pool holds each judged passage once, spread
evenly over the languages (one language per passage); every query appears in every
language, and judgements between a query and a passage in the same language are dropped so
only cross-lingual pairs remain (a query left without judgements in some language is not
asked in it). The reference-english condition is the English (MS MARCO) passage.

The paper's numbers come from its settings: ``subset="dev/small"`` and ``max_queries=None``
(all 6,980 judged dev/small queries) over its 14 languages (ar de en es fr hi id it ja nl pt
ru vi zh). The pool is then every unique judged dev/small passage (the paper reports 7,433),
about 531 per language, and a (query language, document language) pair holds the queries
with a relevant passage in that document language, about as many (the paper reports
530-531). `max_queries` samples fewer queries with `seed` (e.g. for a quick run).

Local copy: the files ir_datasets downloads, at their cache paths: under
``IR_DATASETS_HOME/mmarco/``: ``qrels.dev.small.tsv`` (``qrels.dev.tsv`` for dev),
``v2/{language}_collection.tsv`` and ``v2/{language}.queries.dev.tsv`` (e.g.
``v2/dutch_collection.tsv``); for English ``IR_DATASETS_HOME/msmarco-passage/
collectionandqueries.tar.gz`` (MS MARCO's archive). See ir_datasets' etc/downloads.json.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from clirbench.core.datamodel import Dataset, dataset_from_rows
from clirbench.data.irds import (
    IrdsDataset,
    doc_text,
    judged_query_ids,
    qrels_of,
    query_texts,
    seeded_sample,
    warn_dropped,
)
from clirbench.data.document_pools import split_of, spread_over_languages

log = logging.getLogger(__name__)

# Our code -> the code in ir_datasets' mmarco/v2 ids; English is msmarco-passage.
MMARCO_V2_CODES = {
    "ar": "ar",
    "de": "de",
    "es": "es",
    "fr": "fr",
    "hi": "hi",
    "id": "id",
    "it": "it",
    "ja": "ja",
    "nl": "dt",
    "pt": "pt",
    "ru": "ru",
    "vi": "vi",
    "zh": "zh",
}
MMARCO_LANGUAGES = tuple(sorted([*MMARCO_V2_CODES, "en"]))
MMARCO_SUBSETS = ("dev/small", "dev", "train")
MMARCO_LOCAL_COPY = (
    "put mMARCO's qrels.dev.small.tsv (or qrels.dev.tsv) in {home}/mmarco/ and "
    "{{language}}_collection.tsv and {{language}}.queries.dev.tsv (e.g. dutch_collection.tsv) "
    "in {home}/mmarco/v2/ (from https://huggingface.co/datasets/unicamp-dl/mmarco, "
    "data/google/); for English, MS MARCO's collectionandqueries.tar.gz in "
    "{home}/msmarco-passage/ (subsets other than dev/small read more files: see the "
    "cache paths in ir_datasets' etc/downloads.json)"
)


def mmarco_id(lang: str, subset: str = "dev/small") -> str:
    """The ir_datasets id of one language's queries/qrels/passages."""
    if lang == "en":
        return f"msmarco-passage/{subset}"
    return f"mmarco/v2/{MMARCO_V2_CODES[lang]}/{subset}"


def _check(languages: Sequence[str], subset: str) -> None:
    if subset not in MMARCO_SUBSETS:
        raise ValueError(f"mMARCO subset {subset!r} unknown; known: {', '.join(MMARCO_SUBSETS)}")
    if len(set(languages)) < 2:
        raise ValueError(f"mMARCO needs at least two languages, got {list(languages)}")
    unknown = sorted(set(languages) - set(MMARCO_LANGUAGES))
    if unknown:
        hint = " (Dutch is 'nl')" if "dt" in unknown else ""
        raise ValueError(
            f"mMARCO v2 has no {', '.join(unknown)}{hint}; it has {', '.join(MMARCO_LANGUAGES)}"
        )


def build_mmarco(
    languages: Sequence[str],
    seed: int,
    split_fractions: Mapping[str, float],
    max_queries: int | None = None,
    subset: str = "dev/small",
    ir_datasets_home: Path | None = None,
    build_docstore: bool = False,
) -> Dataset:
    """mMARCO as the paper prepares it (see the module docstring for the paper's settings).

    Ids: docs are the MS MARCO passage ids (each passage is in the pool once), queries
    ``{query_id}-{lang}``; the data-model split is drawn per MS MARCO query id, so a query
    has the same split in every language.
    """
    _check(languages, subset)
    name = "mMARCO"
    ordered = sorted(set(languages))
    sources = {
        lang: IrdsDataset(mmarco_id(lang, subset), name, MMARCO_LOCAL_COPY, ir_datasets_home)
        for lang in sorted({*ordered, "en"})
    }
    qrels_source = sources[next(lang for lang in ordered if lang != "en")]
    eligible = judged_query_ids(qrels_source)
    for lang in ordered:  # a query must have text in every language (mMARCO is parallel)
        eligible &= set(query_texts(sources[lang], eligible, lambda q: q.text))
    sample = seeded_sample(eligible, max_queries, seed, "mmarco", subset)
    judged = {
        qid: {pid: rel for pid, rel in docs.items() if rel >= 1}
        for qid, docs in qrels_of(qrels_source, set(sample)).items()
    }
    texts = {lang: query_texts(sources[lang], set(sample), lambda q: q.text) for lang in ordered}

    passages = sorted({pid for docs in judged.values() for pid in docs})
    english = sources["en"].docs(passages, build_docstore)
    by_lang: dict[str, list[str]] = {}
    for pid, lang in spread_over_languages(passages, ordered, seed).items():
        by_lang.setdefault(lang, []).append(pid)
    docs: list[tuple] = []
    reference_english: list[tuple] = []
    doc_lang: dict[str, str] = {}
    for lang in ordered:
        wanted = sorted(by_lang.get(lang, []))
        found = english if lang == "en" else sources[lang].docs(wanted, build_docstore)
        for pid in wanted:
            title, text = doc_text(found[pid]) if pid in found else ("", "")
            _, english_text = doc_text(english[pid]) if pid in english else ("", "")
            if text and english_text:
                doc_lang[pid] = lang
                docs.append((pid, lang, title, text))
                reference_english.append((pid, "en", "", english_text))
        warn_dropped(name, len(wanted) - sum(p in doc_lang for p in wanted), f"{lang} passages")

    queries: list[tuple] = []
    qrels: list[tuple] = []
    for qid in sample:
        split = split_of(qid, seed, split_fractions)
        for lang in ordered:
            kept = {p: r for p, r in judged.get(qid, {}).items() if doc_lang.get(p, lang) != lang}
            if not kept:
                continue  # its only relevant passages are in its own language (or missing)
            query_id = f"{qid}-{lang}"
            queries.append((query_id, lang, texts[lang][qid], split))
            qrels.extend((query_id, pid, rel) for pid, rel in sorted(kept.items()))
    return dataset_from_rows(docs, queries, qrels, reference_english)
