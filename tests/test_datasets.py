from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from clirbench.core.datamodel import validate
from clirbench.data.builders import build_dataset
from clirbench.data.cldr_cards import build_cldr_cards
from clirbench.data.local import build_local
from clirbench.data.xquad import XQUAD_LANGUAGES, build_xquad, xquad_files
from clirbench.data.download import DownloadError
from clirbench.core.languages import script_of

DEMO_LANGUAGES = [
    "ar",
    "de",
    "el",
    "en",
    "es",
    "fi",
    "fr",
    "hi",
    "it",
    "ja",
    "ko",
    "pt",
    "ru",
    "th",
    "tr",
    "zh",
]
FRACTIONS = {"train": 0.6, "dev": 0.1, "test": 0.3}
ALL_SOURCES = {t: t for t in ("docs", "queries", "qrels", "reference_english")}


@pytest.fixture(scope="module")
def cards():
    return build_cldr_cards(
        DEMO_LANGUAGES, ["territory", "language", "currency", "script"], None, 13, FRACTIONS
    )


def test_cards_cover_many_languages_and_scripts(cards) -> None:
    validate(cards, ALL_SOURCES)
    assert sorted(cards.docs["lang"].unique()) == DEMO_LANGUAGES
    assert (
        len({script_of(lang) for lang in DEMO_LANGUAGES}) >= 8
    )  # Latin, Cyrillic, Arabic, Han, ...


def test_each_card_is_in_exactly_one_language_spread_evenly(cards) -> None:
    per_language = cards.docs.group_by("lang").len()["len"]
    assert per_language.max() - per_language.min() <= 1
    assert cards.docs["doc_id"].is_unique().all()


def test_cards_are_written_in_their_language(cards) -> None:
    finland = cards.docs.filter(pl.col("doc_id") == "territory-FI").row(0, named=True)
    english = cards.reference_english.filter(pl.col("doc_id") == "territory-FI").row(0, named=True)
    assert (
        english["title"] == "Finland" and "Euro" in english["text"] and "Finnish" in english["text"]
    )
    if finland["lang"] != "en":
        assert "Finland" not in finland["text"]


def test_queries_are_names_in_every_other_language(cards) -> None:
    queries = cards.queries.join(cards.qrels, on="query_id").join(
        cards.docs.select("doc_id", doc_lang="lang"), on="doc_id"
    )
    assert queries.filter(pl.col("lang") == pl.col("doc_lang")).is_empty(), (
        "same-language pairs must be excluded"
    )
    per_entity = queries.group_by("doc_id").agg(
        pl.col("lang").n_unique(), pl.col("split").n_unique()
    )
    assert (per_entity["lang"] <= len(DEMO_LANGUAGES) - 1).all()
    assert (per_entity["lang"] == len(DEMO_LANGUAGES) - 1).mean() > 0.75, (
        "most names have a single answer in every language"
    )
    # Finnish "suomi" names both Finland and the Finnish language: no query for either.
    assert cards.queries.filter(
        pl.col("query_id").is_in(["territory-FI-fi", "language-fi-fi"])
    ).is_empty()
    assert (per_entity["split"] == 1).all(), (
        "all languages of one entity share its split (no leakage)"
    )
    japanese = cards.queries.filter(pl.col("query_id") == "territory-FI-ja")
    assert japanese.is_empty() or japanese["text"][0] == "フィンランド"


def test_cards_are_deterministic_and_splits_follow_fractions(cards) -> None:
    again = build_cldr_cards(
        DEMO_LANGUAGES, ["territory", "language", "currency", "script"], None, 13, FRACTIONS
    )
    assert again.docs.equals(cards.docs) and again.queries.equals(cards.queries)
    shares = (
        cards.queries.group_by("split")
        .len()
        .with_columns(share=pl.col("len") / pl.col("len").sum())
    )
    for split, fraction in FRACTIONS.items():
        assert abs(shares.filter(pl.col("split") == split)["share"][0] - fraction) < 0.06


def test_max_entities_samples_a_subset() -> None:
    small = build_cldr_cards(["en", "ja", "zh"], ["territory"], 30, 1, FRACTIONS)
    assert len(small.docs) == 30 and len(small.queries) == 60


def test_xquad_pool_is_built_like_mmarco(xquad_folder: Path, tmp_path: Path) -> None:
    files = xquad_files(XQUAD_LANGUAGES, xquad_folder, tmp_path, "datasets.xquad")
    dataset = build_xquad(files, XQUAD_LANGUAGES, 13, FRACTIONS)
    validate(dataset, ALL_SOURCES)
    assert len(dataset.docs) == 240 and sorted(
        dataset.docs.group_by("lang").len()["len"].unique()
    ) == [20]
    assert (
        len(dataset.queries) == 1190 * 11
    )  # every question in the 11 languages its paragraph is not in
    english = json.loads((xquad_folder / "xquad.en.json").read_text())["data"][0]["paragraphs"][0]
    translated = dataset.reference_english.filter(pl.col("doc_id") == "xquad-p000")["text"][0]
    assert translated == english["context"]


def test_xquad_rejects_a_modified_file(xquad_folder: Path, tmp_path: Path) -> None:
    for lang in ("en", "de"):
        (tmp_path / f"xquad.{lang}.json").write_bytes(
            (xquad_folder / f"xquad.{lang}.json").read_bytes()
        )
    (tmp_path / "xquad.de.json").write_text("{}")
    with pytest.raises(DownloadError, match=r"xquad\.de\.json: checksum mismatch for XQuAD de"):
        xquad_files(["de", "en"], tmp_path, tmp_path / "downloads", "datasets.xquad")


def test_xquad_download_failure_says_how_to_use_a_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "clirbench.data.xquad.XQUAD_URL", "http://127.0.0.1:9/{commit}/xquad.{lang}.json"
    )
    with pytest.raises(
        DownloadError,
        match=r"could not download XQuAD de from http://127\.0\.0\.1:9/.*set datasets\.x\.local_folder",
    ):
        xquad_files(["en", "de"], None, tmp_path, "datasets.x")


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_local_collection_from_jsonl_tsv_and_trec(tmp_path: Path) -> None:
    docs = write_lines(
        tmp_path / "docs.jsonl",
        [
            json.dumps({"_id": "d1", "text": "東京は日本の首都", "lang": "ja"}),
            json.dumps({"_id": "d2", "text": "Berlin ist die Hauptstadt", "lang": "de"}),
        ],
    )
    queries = write_lines(
        tmp_path / "queries.tsv",
        ["query_id\ttext\tsplit", "q1\tcapital of Japan\ttest", "q2\tcapital of Germany\tdev"],
    )
    qrels = write_lines(tmp_path / "qrels.trec", ["q1 0 d1 1", "q2 0 d2 2"])
    dataset = build_local(docs, queries, qrels, None, None, "en")
    validate(dataset, {"docs": str(docs), "queries": str(queries), "qrels": str(qrels)})
    assert dataset.queries.sort("query_id")["split"].to_list() == ["test", "dev"]
    assert dataset.reference_english.is_empty()


def test_local_collection_errors_name_file_and_line(tmp_path: Path) -> None:
    docs = write_lines(
        tmp_path / "docs.jsonl",
        [json.dumps({"doc_id": "d1", "text": "x", "lang": "en"}), "{broken"],
    )
    queries = write_lines(
        tmp_path / "queries.jsonl", [json.dumps({"query_id": "q1", "text": "x", "lang": "en"})]
    )
    qrels = write_lines(tmp_path / "qrels.trec", ["q1 0 d1 1", "q1 0 d1"])
    with pytest.raises(ValueError, match=r"docs\.jsonl:2: invalid JSON"):
        build_local(docs, queries, qrels, None, None, None)
    write_lines(docs, [json.dumps({"doc_id": "d1", "text": "x"})])
    with pytest.raises(ValueError, match=r"docs\.jsonl:1: needs `doc_id`, `text` and `lang`"):
        build_local(docs, queries, qrels, None, None, None)
    with pytest.raises(ValueError, match=r"qrels\.trec:2: expected 4 whitespace-separated fields"):
        build_local(docs, queries, qrels, None, "en", None)


def test_build_dataset_dispatches_on_type(tmp_path: Path) -> None:
    settings = {
        "type": "cldr_cards",
        "languages": ["en", "ja"],
        "entity_kinds": ["currency"],
        "max_entities": 5,
        "seed": 3,
        "split_fractions": FRACTIONS,
    }
    dataset, sources = build_dataset("tiny", settings, tmp_path)
    assert len(dataset.docs) == 5 and "datasets.tiny" in sources["docs"]
    with pytest.raises(ValueError, match="datasets.bad.type"):
        build_dataset("bad", {"type": "nope"}, tmp_path)


def test_cards_are_grouped_by_entity_kind() -> None:
    dataset = build_cldr_cards(["en", "de", "ja"], ["territory", "currency"], 40, 5, FRACTIONS)
    validate(dataset, {t: t for t in ("docs", "queries", "qrels", "reference_english")})
    kinds = dict(dataset.doc_groups.rows())
    assert set(kinds.values()) == {"territory", "currency"}
    assert all(kinds[doc_id] == doc_id.split("-")[0] for doc_id in kinds)
    assert dataset.query_groups.height == dataset.queries.height
