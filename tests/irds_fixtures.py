"""Tiny ir_datasets caches in each dataset's native files and layout (no downloads needed).

Each writer puts files where ir_datasets looks for them under an IR_DATASETS_HOME, in the
format its own parsers read, and returns what it wrote so tests can check the builders.

How ir_datasets accepts them (ir_datasets 0.6.3, util/download.py): a download with a
``cache_path`` that already exists is used as is (no md5 check; only copies taken from
``downloads/<md5>`` are verified), ``Cache`` and ``TarExtractAll`` targets that exist are
used as is. So:
- CLIRMatrix: ``clirmatrix/clirmatrix_downloads.json.gz`` (the index ir_datasets fetches
  from the CLIRMatrix site) listing our gzipped doc TSVs and query JSON-lines files at
  cache paths under ``clirmatrix/``;
- mMARCO: the files at the cache paths of ir_datasets' etc/downloads.json under
  ``mmarco/`` (``qrels.dev.small.tsv``, ``v2/{language}_collection.tsv``,
  ``v2/{language}.queries.dev.tsv``), and for English MS MARCO's archive
  ``msmarco-passage/collectionandqueries.tar.gz`` (ir_datasets extracts it itself);
- WikiCLIR: the archive's extracted tree under ``wikiclir/source/wiki-clir/``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Texts in each language's script, so tokenisers and validation see realistic input.
WORDS = {
    "ar": "مكتبة",
    "de": "Straße",
    "en": "library",
    "es": "biblioteca",
    "fr": "bibliothèque",
    "ja": "図書館",
    "nl": "bibliotheek",
    "ru": "библиотека",
    "zh": "图书馆",
}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write(path: Path, text: str, compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def _lines(rows: Sequence[tuple[str, ...]]) -> str:
    return "".join("\t".join(row) + "\n" for row in rows)


# --- CLIRMatrix ---------------------------------------------------------------------------


@dataclass
class ClirMatrixFixture:
    home: Path
    languages: list[str]
    split: str
    docs: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> id -> text
    queries: dict[str, dict[str, str]] = field(default_factory=dict)  # src -> qid -> text
    # (src, tgt) -> qid -> {doc id: grade}
    judgements: dict[tuple[str, str], dict[str, dict[str, int]]] = field(default_factory=dict)
    missing_docs: set[str] = field(default_factory=set)  # judged ids not in the collections

    def eligible(self, src: str, tgt: str) -> set[str]:
        """Queries with non-empty text and a judgement of grade >= 1."""
        return {
            qid
            for qid, docs in self.judgements[src, tgt].items()
            if self.queries[src][qid] and max(docs.values()) >= 1
        }


def write_clirmatrix(
    home: Path,
    languages: tuple[str, ...] = ("de", "en", "ja"),
    queries_per_language: int = 9,
    docs_per_language: int = 30,
    split: str = "test1",
    other_splits: tuple[str, ...] = (),
) -> ClirMatrixFixture:
    """MULTI-8-style files: shared numeric doc ids across languages, graded 0-6 judgements.

    Per source language the same query ids are used for every target (as in MULTI-8); the
    last query is judged only at grade 0 and one query has empty text (both ineligible);
    one judgement points at a doc missing from the collection. `other_splits` get query
    files too, with other query ids and texts (the fixture describes `split`'s).
    """
    base = home / "clirmatrix"
    fixture = ClirMatrixFixture(home, list(languages), split)
    index: dict[str, dict[str, dict[str, str]]] = {"clirmatrix_docs": {}, "clirmatrix_multi8": {}}
    for li, lang in enumerate(languages):
        docs = {
            str(100 + i): f"{WORDS[lang]} {lang} article {i} about topic {i % 7}"
            for i in range(docs_per_language)
        }
        fixture.docs[lang] = docs
        path = _write(base / "docs" / f"{lang}.tsv.gz", _lines(list(docs.items())), True)
        index["clirmatrix_docs"][f"docs/{lang}"] = {
            "url": f"https://clirmatrix.invalid/docs/{lang}.tsv.gz",
            "expected_md5": _md5(path),
            "cache_path": f"docs/{lang}.tsv.gz",
        }
        fixture.queries[lang] = {
            str(5000 + 10 * li + q): ("" if q == 1 else f"{WORDS[lang]} {lang} query {q}")
            for q in range(queries_per_language)
        }
    for split_index, split_name in enumerate((split, *other_splits)):
        _write_clirmatrix_queries(fixture, base, index, split_name, split_index,
                                  queries_per_language, docs_per_language)  # fmt: skip
    _write(base / "clirmatrix_downloads.json.gz", json.dumps(index), True)
    return fixture


def _write_clirmatrix_queries(
    fixture: ClirMatrixFixture,
    base: Path,
    index: dict[str, dict[str, dict[str, str]]],
    split: str,
    split_index: int,
    queries_per_language: int,
    docs_per_language: int,
) -> None:
    languages = fixture.languages
    for src in languages:
        queries = {
            str(int(qid) + 1000 * split_index): (f"{text} {split}" if text and split_index else text)
            for qid, text in fixture.queries[src].items()
        }
        for ti, tgt in enumerate(languages):
            if src == tgt:
                continue
            judged: dict[str, dict[str, int]] = {}
            lines = []
            for q, (qid, text) in enumerate(queries.items()):
                # Another split judges other documents (as CLIRMatrix's splits are other
                # articles), given room: docs_per_language of 30 per split.
                first = (3 * q + ti) % 30 + 30 * split_index if split_index else (3 * q + ti) % docs_per_language
                results = {str(100 + (first + k) % docs_per_language): 6 - 2 * k for k in range(4)}
                if q == queries_per_language - 1:
                    results = {doc_id: 0 for doc_id in results}  # nothing relevant
                if q == 2:
                    missing = f"{tgt}-9999"
                    results["9999"] = 1
                    fixture.missing_docs.add(missing)
                judged[qid] = results
                record = {
                    "src_id": qid,
                    "src_query": text,
                    "tgt_results": [[doc_id, grade] for doc_id, grade in results.items()],
                }
                lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            if split_index == 0:
                fixture.judgements[src, tgt] = judged
            cache_path = f"multi8/{src}_{tgt}/{split}.jl.gz"
            path = _write(base / cache_path, "".join(lines), True)
            index["clirmatrix_multi8"][f"queries/{src}_{tgt}/{split}"] = {
                "url": f"https://clirmatrix.invalid/{cache_path}",
                "expected_md5": _md5(path),
                "cache_path": cache_path,
            }


# --- mMARCO -------------------------------------------------------------------------------

MMARCO_FILE_NAMES = {"ar": "arabic", "de": "german", "fr": "french", "ja": "japanese"}
MMARCO_FILE_NAMES |= {"nl": "dutch", "ru": "russian", "zh": "chinese", "es": "spanish"}


@dataclass
class MmarcoFixture:
    home: Path
    languages: list[str]
    passages: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> pid -> text
    queries: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> qid -> text
    small_qrels: dict[str, set[str]] = field(default_factory=dict)  # dev/small qid -> pids
    dev_only_queries: set[str] = field(default_factory=set)  # in dev, not in dev/small


def _tar_gz(path: Path, members: dict[str, str]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def write_mmarco(
    home: Path,
    languages: tuple[str, ...] = ("de", "en", "fr", "ja", "nl"),
    small_queries: int = 12,
    passages: int = 40,
) -> MmarcoFixture:
    """Parallel passages/queries in every language; dev/small judges `small_queries` queries.

    Queries 0 and 1 share passage 3; every third query judges two passages; three more dev
    queries are not in dev/small. All collections hold every passage (plus unjudged ones).
    """
    fixture = MmarcoFixture(home, list(languages))
    for lang in languages:
        fixture.passages[lang] = {
            str(pid): f"{WORDS[lang]} {lang} passage {pid} café" for pid in range(passages)
        }
        fixture.queries[lang] = {
            str(1000 + q): f"{WORDS[lang]} {lang} question {q}" for q in range(small_queries + 3)
        }
    for q in range(small_queries):
        pids = {str(3)} if q in (0, 1) else {str((5 * q) % passages)}
        if q % 3 == 2:
            pids.add(str((5 * q + 1) % passages))
        fixture.small_qrels[str(1000 + q)] = pids
    fixture.dev_only_queries = {str(1000 + q) for q in range(small_queries, small_queries + 3)}
    small = [
        (qid, "0", pid, "1") for qid, pids in fixture.small_qrels.items() for pid in sorted(pids)
    ]
    dev = small + [(qid, "0", "0", "1") for qid in sorted(fixture.dev_only_queries)]

    base = home / "mmarco"
    _write(base / "qrels.dev.small.tsv", _lines(small))
    _write(base / "qrels.dev.tsv", _lines(dev))
    for lang in languages:
        if lang == "en":
            continue
        name = MMARCO_FILE_NAMES[lang]
        _write(base / "v2" / f"{name}_collection.tsv", _lines(list(fixture.passages[lang].items())))
        _write(base / "v2" / f"{name}.queries.dev.tsv", _lines(list(fixture.queries[lang].items())))
    english_passages = {str(pid): f"{WORDS['en']} en passage {pid} café" for pid in range(passages)}
    english_queries = {str(1000 + q): f"library en question {q}" for q in range(small_queries + 3)}
    fixture.passages.setdefault("en", english_passages)
    fixture.queries.setdefault("en", english_queries)
    small_ids = set(fixture.small_qrels)
    _tar_gz(
        home / "msmarco-passage" / "collectionandqueries.tar.gz",
        {
            "collection.tsv": _lines(list(fixture.passages["en"].items())),
            "queries.dev.tsv": _lines(list(fixture.queries["en"].items())),
            "queries.dev.small.tsv": _lines(
                [(qid, text) for qid, text in fixture.queries["en"].items() if qid in small_ids]
            ),
            "qrels.dev.small.tsv": _lines(small),
        },
    )
    return fixture


# --- WikiCLIR -----------------------------------------------------------------------------

WIKICLIR_FOLDERS = {
    "de": "german", "en-simple": "simple_english", "fr": "french", "ja": "japanese",
    "ru": "russian",
}  # fmt: skip
WIKICLIR_FILE_SUFFIX = {"en-simple": "simple"}  # wiki-clir/simple_english/en2simple.rel


@dataclass
class WikiclirFixture:
    home: Path
    languages: list[str]
    titles: dict[str, str] = field(default_factory=dict)  # qid -> English title
    first_sentences: dict[str, str] = field(default_factory=dict)  # qid -> first sentence
    docs: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> id -> text
    judgements: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


def write_wikiclir(
    home: Path,
    languages: tuple[str, ...] = ("de", "en-simple", "ja"),
    queries: int = 14,
    docs_per_language: int = 40,
) -> WikiclirFixture:
    """The extracted wiki-clir tree: English queries, per-language 3-column qrels and docs.

    Each query has its mate (grade 2) and two related articles (grade 1) that other queries
    share; query 0 is judged in no language and the last query only in the first language.
    """
    fixture = WikiclirFixture(home, list(languages))
    root = home / "wikiclir" / "source" / "wiki-clir"
    rows = []
    for q in range(queries):
        qid = str(700 + q)
        fixture.titles[qid] = f"Topic {q}"
        fixture.first_sentences[qid] = f"Topic {q} is a subject described in sentence {q}."
        rows.append((qid, fixture.titles[qid], fixture.first_sentences[qid]))
    _write(root / "english" / "wiki_en.queries", _lines(rows))
    for li, lang in enumerate(languages):
        word = WORDS[lang.split("-")[0]]
        docs = {
            str(300 + d): (f"{word} title {d}", f"{word} {lang} body text {d}")
            for d in range(docs_per_language)
        }
        fixture.docs[lang] = {doc_id: text for doc_id, (_, text) in docs.items()}
        judged: dict[str, dict[str, int]] = {}
        for q in range(1, queries - (0 if li == 0 else 1)):
            mate = (2 * q + li) % docs_per_language
            judged[str(700 + q)] = {
                str(300 + mate): 2,
                str(300 + (mate + 1) % docs_per_language): 1,
                str(300 + (mate + 2) % docs_per_language): 1,
            }
        fixture.judgements[lang] = judged
        folder = root / WIKICLIR_FOLDERS[lang]
        suffix = WIKICLIR_FILE_SUFFIX.get(lang, lang)
        _write(
            folder / f"en2{suffix}.rel",
            _lines([(qid, d, str(g)) for qid, ds in judged.items() for d, g in ds.items()]),
        )
        _write(
            folder / f"wiki_{suffix}.documents",
            _lines([(d, title, text) for d, (title, text) in docs.items()]),
        )
    return fixture
