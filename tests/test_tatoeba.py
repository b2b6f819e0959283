from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from clirbench.core.datamodel import validate
from clirbench.data.tatoeba import (
    DIRECTIONS,
    TATOEBA_LANGUAGES,
    TATOEBA_SHA256,
    build_tatoeba,
    parallel_pairs,
    tatoeba_files,
    tatoeba_language_code,
    usable_tatoeba_languages,
)
from clirbench.data.download import DownloadError
from clirbench.core.languages import is_known_language

TATOEBA_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tatoeba"
# kzj and dtp both map to "dtp"; cmn and yue are two Chinese languages; kab has no 639-1 code.
LANGUAGES = ["cmn", "deu", "dtp", "fra", "kab", "kzj", "nld", "yue"]
FRACTIONS = {"train": 0.6, "dev": 0.1, "test": 0.3}
ALL_SOURCES = {t: t for t in ("docs", "queries", "qrels", "reference_english")}


@pytest.fixture(scope="module")
def tatoeba_folder() -> Path:
    if not (TATOEBA_FOLDER / "tatoeba.deu-eng.deu").exists():
        pytest.skip(
            f"Tatoeba copy not found at {TATOEBA_FOLDER} "
            "(only CI and developer machines have ../shared/data)"
        )
    return TATOEBA_FOLDER


@pytest.fixture(scope="module")
def files(tatoeba_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    downloads = tmp_path_factory.mktemp("downloads")
    return tatoeba_files(LANGUAGES, tatoeba_folder, downloads, "datasets.tatoeba")


@pytest.fixture(scope="module", params=DIRECTIONS)
def built(request: pytest.FixtureRequest, files):
    return request.param, build_tatoeba(files, request.param, 7, FRACTIONS)


def judged(dataset) -> pl.DataFrame:
    """qrels with the query and document language and text."""
    return dataset.qrels.join(
        dataset.queries.select("query_id", query_lang="lang", query_text="text", split="split"),
        on="query_id",
    ).join(dataset.docs.select("doc_id", doc_lang="lang", doc_text="text"), on="doc_id")


def write_pair(folder: Path, lang3: str, foreign: list[str], english: list[str]) -> tuple:
    src = folder / f"tatoeba.{lang3}-eng.{lang3}"
    eng = folder / f"tatoeba.{lang3}-eng.eng"
    src.write_text("".join(line + "\n" for line in foreign), encoding="utf-8")
    eng.write_text("".join(line + "\n" for line in english), encoding="utf-8")
    return src, eng


# Checksums and files


def test_checksums_cover_exactly_the_published_files(tatoeba_folder: Path) -> None:
    assert sorted(path.name for path in tatoeba_folder.iterdir()) == sorted(TATOEBA_SHA256)
    assert len(TATOEBA_LANGUAGES) == 112 and len(TATOEBA_SHA256) == 224


def test_verified_files_are_the_foreign_and_english_side(files) -> None:
    assert sorted(files) == LANGUAGES
    src, eng = files["deu"]
    assert (src.name, eng.name) == ("tatoeba.deu-eng.deu", "tatoeba.deu-eng.eng")
    assert hashlib.sha256(eng.read_bytes()).hexdigest() == TATOEBA_SHA256[eng.name]


def test_a_modified_file_is_rejected(tatoeba_folder: Path, tmp_path: Path) -> None:
    for name in ("tatoeba.deu-eng.deu", "tatoeba.deu-eng.eng"):
        (tmp_path / name).write_bytes((tatoeba_folder / name).read_bytes())
    with (tmp_path / "tatoeba.deu-eng.eng").open("a", encoding="utf-8") as handle:
        handle.write("One line too many.\n")
    with pytest.raises(
        DownloadError, match=r"tatoeba\.deu-eng\.eng: checksum mismatch for Tatoeba deu-eng eng"
    ):
        tatoeba_files(["deu"], tmp_path, tmp_path / "downloads", "datasets.tatoeba")


def test_a_missing_local_file_names_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"set by datasets\.t\.local_folder"):
        tatoeba_files(["deu"], tmp_path, tmp_path / "downloads", "datasets.t")


def test_download_failure_names_the_url_and_the_config_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "clirbench.data.tatoeba.TATOEBA_URL", "http://127.0.0.1:9/{commit}/{name}"
    )
    with pytest.raises(
        DownloadError,
        match=r"could not download Tatoeba deu-eng deu from "
        r"http://127\.0\.0\.1:9/74bc6ae/tatoeba\.deu-eng\.deu .*set datasets\.x\.local_folder",
    ):
        tatoeba_files(["deu"], None, tmp_path, "datasets.x")


def test_unknown_languages_list_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"datasets\.t\.languages: Tatoeba has no xyz; it has afr, "
    ):
        tatoeba_files(["deu", "xyz"], tmp_path, tmp_path, "datasets.t")
    with pytest.raises(
        ValueError, match=r"Tatoeba has no de \(Tatoeba uses ISO 639-3 codes: deu for de\)"
    ):
        tatoeba_files(["de"], tmp_path, tmp_path, "datasets.t")
    with pytest.raises(
        ValueError, match=r"datasets\.t\.languages: ber, tzl: no language code CLDR"
    ):
        tatoeba_files(["tzl", "deu", "ber"], tmp_path, tmp_path, "datasets.t")


# Language codes


@pytest.mark.parametrize(
    ("lang3", "code"),
    [
        ("deu", "de"),
        ("cmn", "zh"),
        ("zsm", "ms"),
        ("lvs", "lv"),
        ("pes", "fa"),
        ("tgl", "fil"),  # CLDR's canonical code for Tagalog
        ("kzj", "dtp"),  # ISO merged Coastal Kadazan into Central Dusun in 2016
        ("kab", "kab"),
        ("yue", "yue"),
        ("gsw", "gsw"),
    ],
)
def test_iso_639_3_maps_to_the_data_model_code(lang3: str, code: str) -> None:
    assert tatoeba_language_code(lang3) == code and is_known_language(code)


def test_codes_cldr_does_not_know_are_refused() -> None:
    unusable = sorted(set(TATOEBA_LANGUAGES) - set(usable_tatoeba_languages()))
    assert unusable == ["ber", "cbk", "max", "orv", "swg", "tzl"]
    with pytest.raises(ValueError, match=r"'ber' has no code CLDR knows"):
        tatoeba_language_code("ber")
    assert all(is_known_language(tatoeba_language_code(c)) for c in usable_tatoeba_languages())


# The retrieval task


def test_the_dataset_validates(built) -> None:
    _, dataset = built
    validate(dataset, ALL_SOURCES)
    assert dataset.reference_english["lang"].unique().to_list() == ["en"]
    assert set(dataset.docs["lang"]) | set(dataset.queries["lang"]) == {
        "de", "dtp", "en", "fr", "kab", "nl", "yue", "zh"
    }  # fmt: skip


def test_every_query_has_a_translation_in_another_language(built) -> None:
    direction, dataset = built
    pairs = judged(dataset)
    assert set(dataset.queries["query_id"]) == set(pairs["query_id"])
    assert pairs.filter(pl.col("query_lang") == pl.col("doc_lang")).is_empty()
    assert (pairs["relevance"] == 1).all()
    if direction == "xx-en":
        assert set(dataset.docs["lang"]) == {"en"} and "en" not in set(dataset.queries["lang"])
    if direction == "en-xx":
        assert set(dataset.queries["lang"]) == {"en"} and "en" not in set(dataset.docs["lang"])
    if direction == "both":
        assert set(dataset.queries["lang"]) == set(dataset.docs["lang"])


def test_no_query_finds_its_own_text_in_the_pool(built) -> None:
    _, dataset = built
    copies = dataset.queries.join(
        dataset.docs.select("lang", "text"), on=["lang", "text"], how="semi"
    )
    assert copies.is_empty()


def test_the_pool_has_no_duplicate_texts_per_language(built) -> None:
    _, dataset = built
    assert not dataset.docs.select("lang", "text").is_duplicated().any()
    assert not dataset.queries.select("lang", "text").is_duplicated().any()


def test_shared_english_sentences_are_one_document_relevant_to_all_languages(files) -> None:
    dataset = build_tatoeba(files, "xx-en", 7, FRACTIONS)
    pairs = judged(dataset)
    back = pairs.filter(pl.col("doc_text") == "I will be back soon.")
    assert back["doc_id"].n_unique() == 1
    assert {"de", "fr", "nl", "zh"} <= set(back["query_lang"])
    # queries sharing a relevant document share a split: nothing leaks from train to test
    assert (pairs.group_by("doc_id").agg(pl.col("split").n_unique())["split"] == 1).all()


def test_an_english_query_is_judged_against_every_translation(files) -> None:
    dataset = build_tatoeba(files, "en-xx", 7, FRACTIONS)
    back = judged(dataset).filter(pl.col("query_text") == "I will be back soon.")
    assert back["query_id"].n_unique() == 1 and {"de", "fr", "nl", "zh"} <= set(back["doc_lang"])


def test_reference_english_are_the_aligned_english(files) -> None:
    dataset = build_tatoeba(files, "en-xx", 7, FRACTIONS)
    src, eng = files["deu"]
    line = 17
    german = src.read_text(encoding="utf-8").split("\n")[line]
    english = eng.read_text(encoding="utf-8").split("\n")[line]
    doc_id = f"tatoeba-deu-{line:04d}-deu"
    assert dataset.docs.filter(pl.col("doc_id") == doc_id)["text"].to_list() == [german]
    assert dataset.reference_english.filter(pl.col("doc_id") == doc_id)["text"].to_list() == [english]
    xx_en = build_tatoeba(files, "xx-en", 7, FRACTIONS)
    # an English document is its own translation
    assert xx_en.reference_english.select("doc_id", "text").equals(
        xx_en.docs.select("doc_id", "text")
    )


def test_both_directions_split_the_clusters(files) -> None:
    both = build_tatoeba(files, "both", 7, FRACTIONS)
    xx_en = build_tatoeba(files, "xx-en", 7, FRACTIONS)
    en_xx = build_tatoeba(files, "en-xx", 7, FRACTIONS)
    assert len(both.qrels) == len(xx_en.qrels) == len(en_xx.qrels)
    english_queries = both.queries.filter(pl.col("lang") == "en")
    share = both.qrels.join(english_queries, on="query_id", how="semi").height / len(both.qrels)
    assert 0.45 < share < 0.55  # about half of the pairs go each way


def test_builds_are_deterministic_and_splits_follow_fractions(files, built) -> None:
    direction, dataset = built
    again = build_tatoeba(files, direction, 7, FRACTIONS)
    for table in ("docs", "queries", "qrels", "reference_english"):
        assert getattr(again, table).equals(getattr(dataset, table))
    shares = dataset.queries["split"].value_counts(normalize=True)
    for split, fraction in FRACTIONS.items():
        assert abs(shares.filter(pl.col("split") == split)["proportion"][0] - fraction) < 0.05
    other = build_tatoeba(files, direction, 8, FRACTIONS)
    assert not other.queries["split"].equals(dataset.queries["split"])


def test_max_pairs_samples_each_language(files) -> None:
    full = parallel_pairs(files, 7, FRACTIONS)
    small = parallel_pairs(files, 7, FRACTIONS, max_pairs_per_language=50)
    assert (small.group_by("lang3").len()["len"] <= 50).all()
    assert small.group_by("lang3").len().filter(pl.col("lang3") == "deu")["len"][0] == 50
    assert small.join(full, on="pair_id", how="anti").is_empty()
    assert small.equals(parallel_pairs(files, 7, FRACTIONS, max_pairs_per_language=50))
    assert not small["pair_id"].equals(
        parallel_pairs(files, 8, FRACTIONS, max_pairs_per_language=50)["pair_id"]
    )
    dataset = build_tatoeba(files, "xx-en", 7, FRACTIONS, max_pairs_per_language=50)
    validate(dataset, ALL_SOURCES)
    lines = dataset.queries["query_id"].str.extract(r"^(tatoeba-\w+-\d{4})-")
    assert set(lines) <= set(small["pair_id"])
    with pytest.raises(ValueError, match="max_pairs_per_language must be >= 1"):
        build_tatoeba(files, "xx-en", 7, FRACTIONS, max_pairs_per_language=0)


def test_parallel_pairs_share_the_splits_of_the_queries(files) -> None:
    pairs = parallel_pairs(files, 7, FRACTIONS)
    assert pairs.columns[:3] == ["lang", "src_text", "en_text"]
    assert set(pairs["lang"]) == {"de", "dtp", "fr", "kab", "nl", "yue", "zh"}
    queries = build_tatoeba(files, "xx-en", 7, FRACTIONS).queries.with_columns(
        pair_id=pl.col("query_id").str.extract(r"^(tatoeba-\w+-\d{4})-")
    )
    matched = pairs.join(queries, on="pair_id", suffix="_query")
    assert len(matched) > 0.99 * len(queries)
    assert (matched["split"] == matched["split_query"]).all()


def test_unknown_direction_is_refused(files) -> None:
    with pytest.raises(ValueError, match=r"unknown Tatoeba direction 'de-en'; known: xx-en"):
        build_tatoeba(files, "de-en", 7, FRACTIONS)


# Duplicates, on small made-up files


def test_duplicates_are_merged_and_every_translation_is_relevant(tmp_path: Path) -> None:
    deu = write_pair(
        tmp_path,
        "deu",
        ["Hallo!", "Ich liebe dich.", "Hallo!", "Danke."],
        ["Hello!", "I love you.", "Hi!", "I love  you."],  # odd spacing: still the same text
    )
    fra = write_pair(tmp_path, "fra", ["Je t'aime.", "Salut !"], ["I love you.", "Hi!"])
    files = {"deu": deu, "fra": fra}
    xx_en = build_tatoeba(files, "xx-en", 1, FRACTIONS)
    validate(xx_en, ALL_SOURCES)
    assert xx_en.docs["doc_id"].to_list() == [
        "tatoeba-deu-0000-en",
        "tatoeba-deu-0001-en",
        "tatoeba-deu-0002-en",
    ]  # "I love you." and "Hi!" once, under their first id
    assert sorted(xx_en.qrels.select("query_id", "doc_id").rows()) == [
        ("tatoeba-deu-0000-deu", "tatoeba-deu-0000-en"),  # "Hallo!" -> "Hello!" and "Hi!"
        ("tatoeba-deu-0000-deu", "tatoeba-deu-0002-en"),
        ("tatoeba-deu-0001-deu", "tatoeba-deu-0001-en"),
        ("tatoeba-deu-0003-deu", "tatoeba-deu-0001-en"),  # "Danke." is misaligned in the file
        ("tatoeba-fra-0000-fra", "tatoeba-deu-0001-en"),
        ("tatoeba-fra-0001-fra", "tatoeba-deu-0002-en"),
    ]
    en_xx = build_tatoeba(files, "en-xx", 1, FRACTIONS)
    assert sorted(en_xx.qrels.select("query_id", "doc_id").rows()) == [
        ("tatoeba-deu-0000-en", "tatoeba-deu-0000-deu"),
        ("tatoeba-deu-0001-en", "tatoeba-deu-0001-deu"),
        ("tatoeba-deu-0001-en", "tatoeba-deu-0003-deu"),
        ("tatoeba-deu-0001-en", "tatoeba-fra-0000-fra"),
        ("tatoeba-deu-0002-en", "tatoeba-deu-0000-deu"),
        ("tatoeba-deu-0002-en", "tatoeba-fra-0001-fra"),
    ]
    assert len(parallel_pairs(files, 1, FRACTIONS)) == 6


def test_misaligned_files_are_refused(tmp_path: Path) -> None:
    files = {"deu": write_pair(tmp_path, "deu", ["Eins.", "Zwei."], ["One."])}
    with pytest.raises(ValueError, match=r"tatoeba\.deu-eng\.deu has 2 lines but .* has 1"):
        build_tatoeba(files, "xx-en", 1, FRACTIONS)


def test_lines_split_only_on_newlines(tmp_path: Path) -> None:
    files = {"deu": write_pair(tmp_path, "deu", ["Eins\u2028zwei.", "Drei."], ["One.", "Three."])}
    dataset = build_tatoeba(files, "xx-en", 1, FRACTIONS)
    assert dataset.queries["text"].to_list() == ["Eins\u2028zwei.", "Drei."]


# Candidate groups and the MTEB protocol, on small made-up files


def small_files(tmp_path: Path) -> dict:
    deu = write_pair(tmp_path, "deu", ["Hallo!", "Ich liebe dich.", "Danke."],
                     ["Hello!", "I love you.", "Thank you."])  # fmt: skip
    fra = write_pair(tmp_path, "fra", ["Je t'aime.", "Merci."], ["I love you.", "Thanks."])
    return {"deu": deu, "fra": fra}


def test_xx_en_groups_are_languages_and_shared_english_is_in_each(tmp_path: Path) -> None:
    dataset = build_tatoeba(small_files(tmp_path), "xx-en", 1, FRACTIONS)
    validate(dataset, ALL_SOURCES)  # every query's translations are in its group
    assert dataset.query_groups.rows() == [
        ("tatoeba-deu-0000-deu", "de"),
        ("tatoeba-deu-0001-deu", "de"),
        ("tatoeba-deu-0002-deu", "de"),
        ("tatoeba-fra-0000-fra", "fr"),
        ("tatoeba-fra-0001-fra", "fr"),
    ]
    assert sorted(dataset.doc_groups.rows()) == [
        ("tatoeba-deu-0000-en", "de"),
        ("tatoeba-deu-0001-en", "de"),  # "I love you." is in both files: in both groups
        ("tatoeba-deu-0001-en", "fr"),
        ("tatoeba-deu-0002-en", "de"),
        ("tatoeba-fra-0001-en", "fr"),
    ]


@pytest.mark.parametrize("direction", ["en-xx", "both"])
def test_english_queries_have_no_groups(tmp_path: Path, direction: str) -> None:
    dataset = build_tatoeba(small_files(tmp_path), direction, 1, FRACTIONS)
    assert dataset.doc_groups.is_empty() and dataset.query_groups.is_empty()


def test_the_mteb_protocol_makes_every_pair_a_test_query(tmp_path: Path) -> None:
    files = small_files(tmp_path)
    pooled = build_tatoeba(files, "xx-en", 1, FRACTIONS)
    mteb = build_tatoeba(files, "xx-en", 1, FRACTIONS, protocol="mteb")
    assert set(pooled.queries["split"]) != {"test"}  # five pairs: not all drawn as test
    assert mteb.queries["split"].to_list() == ["test"] * 5
    # The same sentences, judgements and groups: only the splits differ.
    for table in ("docs", "qrels", "doc_groups", "query_groups"):
        assert getattr(mteb, table).equals(getattr(pooled, table)), table
    assert mteb.queries.drop("split").equals(pooled.queries.drop("split"))
    with pytest.raises(ValueError, match="protocol mteb searches xx-en, not en-xx"):
        build_tatoeba(files, "en-xx", 1, FRACTIONS, protocol="mteb")
    with pytest.raises(ValueError, match="unknown Tatoeba protocol 'mtab'"):
        build_tatoeba(files, "xx-en", 1, FRACTIONS, protocol="mtab")


def test_published_files_group_by_language(files) -> None:
    dataset = build_tatoeba(files, "xx-en", 7, FRACTIONS, protocol="mteb")
    validate(dataset, ALL_SOURCES)
    # kzj and dtp share the data-model code dtp: one group, as the docstring says.
    assert sorted(dataset.query_groups["group"].unique()) == [
        "de", "dtp", "fr", "kab", "nl", "yue", "zh"
    ]  # fmt: skip
    shared = dataset.doc_groups.group_by("doc_id").len().filter(pl.col("len") > 1)
    assert shared.height > 0  # English sentences shared by several files
