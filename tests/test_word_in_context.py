"""Word-level fine-tuning data: XL-WiC, AM2iCo and SenWiCh read in their published layouts
(small fixtures written here in those formats), downloaded releases pinned by sha256, the
triplets with the datasets' own negatives, and a word-level model trained end to end."""

from __future__ import annotations

import itertools
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from clirbench.core.settings import validated_settings
from clirbench.core.systems import Study
from clirbench.data.download import DownloadError, published_archive
from clirbench.data.word_in_context import (
    WicFormatError,
    in_languages,
    read_collection,
)
from clirbench.finetune.pairs import word_in_context_triplets
from clirbench.finetune.rules import fine_tuning_pairs, word_in_context_instances

# Two senses per target word, a few sentences each, in English and German.
SENSES = {
    "en": {
        "bank": [
            ["She deposited her salary at the bank.", "The bank raised its interest rates.",
             "He took out a loan from the bank."],
            ["They had a picnic on the river bank.", "Reeds grew along the muddy bank.",
             "The boat drifted towards the bank of the lake."],
        ],
        "bat": [
            ["A bat flew out of the cave at dusk.", "The bat hangs upside down while it sleeps.",
             "Each bat eats thousands of insects a night."],
            ["He swung the bat and hit the ball.", "She bought a new cricket bat.",
             "The bat cracked when it struck the ball."],
        ],
        "spring": [
            ["The flowers bloom in spring.", "We plant the garden every spring.",
             "Spring arrived early this year."],
            ["The mattress has a broken spring.", "A steel spring keeps the door shut.",
             "The watch spring snapped."],
        ],
    },
    "de": {
        "Bank": [
            ["Er brachte sein Geld zur Bank.", "Die Bank hat die Zinsen erhöht.",
             "Sie arbeitet bei einer großen Bank."],
            ["Wir saßen auf einer Bank im Park.", "Die alte Bank vor dem Haus ist aus Holz.",
             "Er schlief auf der Bank am Bahnhof."],
        ],
        "Schloss": [
            ["Das Schloss liegt hoch über der Stadt.", "Der König wohnte in einem Schloss.",
             "Touristen besichtigen das barocke Schloss."],
            ["Der Schlüssel passt nicht ins Schloss.", "Das Schloss der Tür klemmt.",
             "Er brach das Schloss des Fahrrads auf."],
        ],
        "Leiter": [
            ["Er stieg auf die Leiter.", "Die Leiter lehnt an der Wand.",
             "Halte bitte die Leiter fest."],
            ["Der Leiter der Schule hielt eine Rede.", "Sie ist Leiterin des Projekts.",
             "Der Leiter des Museums begrüßte die Gäste."],
        ],
    },
}


def instances(lang: str) -> list[tuple[str, str, str, bool]]:
    """(target, sentence 1, sentence 2, same sense) of every pair of sentences."""
    rows = []
    for target, senses in SENSES[lang].items():
        sentences = [(sense, text) for sense, texts in enumerate(senses) for text in texts]
        for (sense_1, first), (sense_2, second) in itertools.combinations(sentences, 2):
            rows.append((target, first, second, sense_1 == sense_2))
    return rows


def xlwic_line(target: str, first: str, second: str, label: bool | None) -> str:
    def span(text: str) -> tuple[int, int]:
        start = text.lower().find(target.lower()[:4])
        return start, start + len(target)

    (s1, e1), (s2, e2) = span(first), span(second)
    fields = [target, "N", s1, e1, s2, e2, first, second]
    if label is not None:
        fields.append(int(label))
    return "\t".join(map(str, fields))


def write_xlwic(root: Path) -> Path:
    """xlwic_datasets/ as published: English WiC, a Wiktionary language with train/valid/test
    (test labels in a gold file) and a WordNet language with valid/test only."""
    base = root / "xlwic_datasets"
    english = instances("en")
    german = instances("de")
    files = {
        "wic_english/train_en.txt": [xlwic_line(*row) for row in english[:30]],
        "wic_english/valid_en.txt": [xlwic_line(*row) for row in english[30:]],
        "xlwic_wikt/german_de/de_train.txt": [xlwic_line(*row) for row in german[:30]],
        "xlwic_wikt/german_de/de_valid.txt": [xlwic_line(*row) for row in german[30:38]],
        "xlwic_wikt/german_de/de_test_data.txt": [xlwic_line(*r[:3], None) for r in german[38:]],
        "xlwic_wikt/german_de/de_test_gold.txt": [str(int(r[3])) for r in german[38:]],
        "xlwic_wn/japanese_ja/ja_valid.txt": [
            xlwic_line("橋", "橋を渡った。", "箸で食べる。", False)
        ],
        "xlwic_wn/japanese_ja/ja_test_data.txt": [xlwic_line("橋", "古い橋。", "長い橋。", None)],
        "xlwic_wn/japanese_ja/ja_test_gold.txt": ["1"],
    }
    for name, lines in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def marked(text: str, target: str) -> str:
    start = text.lower().find(target.lower()[:4])
    word_end = start + len(text[start:].split()[0].rstrip(".,"))
    return f"{text[:start]}<word>{text[start:word_end]}</word>{text[word_end:]}"


def write_am2ico(root: Path) -> Path:
    """AM2iCo's data/<lang>/{train,dev}.tsv: English context, German context, T/F."""
    english = SENSES["en"]["bank"]
    german = SENSES["de"]["Bank"]
    rows = [
        (marked(english[e_sense][i], "bank"), marked(german[g_sense][j], "Bank"),
         "T" if e_sense == g_sense else "F")
        for e_sense in (0, 1) for g_sense in (0, 1) for i in range(3) for j in range(3)
    ]  # fmt: skip
    folder = root / "AM2iCo-master" / "data" / "de"
    folder.mkdir(parents=True)
    header = "Context1\tContext2\tLabel"
    (folder / "train.tsv").write_text(
        "\n".join([header, *("\t".join(row) for row in rows[:30])]) + "\n", encoding="utf-8"
    )
    (folder / "dev.tsv").write_text(
        "\n".join([header, *("\t".join(row) for row in rows[30:])]) + "\n", encoding="utf-8"
    )
    return root


def write_senwich(root: Path) -> Path:
    folder = root / "en"
    folder.mkdir(parents=True)
    for split, rows in (("train", instances("en")[:20]), ("dev", instances("en")[20:30])):
        lines = [
            json.dumps({"word": t, "sentence1": a, "sentence2": b, "label": label})
            for t, a, b, label in rows
        ]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


# --- readers -------------------------------------------------------------------------------


def test_xlwic_is_read_with_its_splits_languages_and_gold_labels(tmp_path: Path):
    table = read_collection("xl-wic", write_xlwic(tmp_path), "k")
    by = {(r["lang_1"], r["split"]): 0 for r in table.iter_rows(named=True)}
    for row in table.iter_rows(named=True):
        by[(row["lang_1"], row["split"])] += 1
    german = instances("de")
    assert by == {("en", "train"): 30, ("en", "dev"): len(instances("en")) - 30,
                  ("de", "train"): 30, ("de", "dev"): 8, ("de", "test"): len(german) - 38,
                  ("ja", "dev"): 1, ("ja", "test"): 1}  # fmt: skip
    assert (table["lang_1"] == table["lang_2"]).all()  # monolingual
    test = table.filter((pl.col("lang_1") == "de") & (pl.col("split") == "test"))
    assert test["label"].to_list() == [row[3] for row in german[38:]]  # from the gold file
    first = table.filter(pl.col("split") == "train").row(0, named=True)
    assert (first["target"], first["sentence_1"]) == ("bank", instances("en")[0][1])


def test_am2ico_targets_are_unmarked_and_pairs_are_english_to_the_folder_language(tmp_path):
    table = read_collection("am2ico", write_am2ico(tmp_path), "k")
    assert table.height == 36  # the header lines are not instances
    assert set(zip(table["lang_1"], table["lang_2"], strict=True)) == {("en", "de")}
    assert not table["sentence_1"].str.contains("<word>").any()
    assert table.row(0, named=True)["target"] == "bank"
    assert table.filter(pl.col("split") == "train")["label"].sum() == 9 + 3  # rows 0-29


def test_senwich_jsonl_is_read(tmp_path: Path):
    table = read_collection("senwich", write_senwich(tmp_path), "k")
    assert table.filter(pl.col("split") == "train").height == 20
    train = table.filter(pl.col("split") == "train")
    assert train["label"].to_list() == [row[3] for row in instances("en")[:20]]
    assert train["sentence_2"].to_list() == [row[2] for row in instances("en")[:20]]


@pytest.mark.parametrize(
    ("collection", "file", "content", "message"),
    [
        ("xl-wic", "xlwic_datasets/xlwic_wikt/german_de/de_train.txt",
         "Bank\tN\t0\t4\tDie Bank.\tDie Bank.\t1\n", "de_train.txt:1: 7 tab-separated fields"),
        ("xl-wic", "xlwic_datasets/xlwic_wikt/german_de/de_valid.txt",
         "Bank\tN\t0\t4\t0\t4\tDie Bank.\tDie Bank.\tyes\n", "de_valid.txt:1: label 'yes'"),
        ("xl-wic", "xlwic_datasets/xlwic_wn/dutch_nl/nl_test_data.txt",
         "bank\tN\t0\t4\t0\t4\tDe bank.\tDe bank.\n", "nl_test_gold.txt: missing"),
        ("am2ico", "data/de/train.tsv",
         "Context1\tContext2\tLabel\nThe bank.\tDie <word>Bank</word>.\tT\n",
         "train.tsv:2: expected the target marked once"),
        ("senwich", "sw/dev.jsonl", '{"word": "benki", "sentence1": "a"}\n',
         "dev.jsonl:1: missing field(s) sentence2, label"),
    ],
)
def test_a_malformed_line_is_named_by_file_and_line(tmp_path, collection, file, content, message):
    path = tmp_path / file
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WicFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_collection(collection, tmp_path, "k")


def test_a_folder_without_the_layout_is_an_error_naming_the_key(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(WicFormatError, match="no am2ico files .* \\(the.key\\)"):
        read_collection("am2ico", tmp_path, "the.key")


def test_only_instances_in_the_study_languages_are_kept(tmp_path: Path):
    table = read_collection("xl-wic", write_xlwic(tmp_path), "k")
    assert set(in_languages(table, ["de", "ja-Jpan"])["lang_1"]) == {"de", "ja"}
    am2ico = read_collection("am2ico", write_am2ico(tmp_path / "am"), "k")
    assert in_languages(am2ico, ["de"]).is_empty()  # both sides must be study languages
    assert in_languages(am2ico, ["de", "en"]).height == am2ico.height


# --- downloads -----------------------------------------------------------------------------


def zipped(folder: Path, archive: Path) -> str:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder))
    return archive.resolve().as_uri()


def test_a_downloaded_release_is_pinned_on_first_use_and_checked_after(tmp_path: Path):
    url = zipped(write_am2ico(tmp_path / "release"), tmp_path / "master.zip")
    downloads = tmp_path / "downloads"
    folder = published_archive(url, None, downloads, "AM2iCo", "k.folders.am2ico")
    assert read_collection("am2ico", folder, "k").height == 36
    pin = downloads / "master.zip.sha256"
    assert len(pin.read_text().strip()) == 64
    # A changed upstream release is refused against the recorded checksum.
    (downloads / "master.zip").write_bytes(b"not the release")
    (tmp_path / "master.zip").write_bytes(b"another release")
    with pytest.raises(DownloadError, match="checksum mismatch for AM2iCo"):
        published_archive(url, None, downloads, "AM2iCo", "k.folders.am2ico")
    # A configured pin is checked too.
    with pytest.raises(DownloadError, match="checksum mismatch"):
        published_archive(url, "0" * 64, tmp_path / "d2", "AM2iCo", "k.folders.am2ico")


def test_without_internet_the_error_says_which_folder_to_set(tmp_path: Path):
    with pytest.raises(DownloadError, match="set k.folders.xl-wic to a folder holding"):
        published_archive("file:///nonexistent/xlwic_datasets.zip", None, tmp_path, "XL-WiC",
                          "k.folders.xl-wic")


# --- triplets ------------------------------------------------------------------------------


def test_triplets_take_their_negative_from_the_datasets_different_sense_instances(tmp_path):
    table = read_collection("xl-wic", write_xlwic(tmp_path), "k")
    train = table.filter(pl.col("split") == "train")
    triplets = word_in_context_triplets(train, seed=1)
    sense_of = {
        text: (lang, target, sense)
        for lang, targets in SENSES.items()
        for target, senses in targets.items()
        for sense, texts in enumerate(senses)
        for text in texts
    }
    assert triplets.height == train["label"].sum()
    for row in triplets.iter_rows(named=True):
        anchor, positive, negative = (sense_of[row[c]] for c in ("anchor", "positive", "negative"))
        assert anchor == positive  # same word, same sense
        assert negative[:2] == anchor[:2] and negative[2] != anchor[2]  # same word, other sense
    assert triplets.equals(word_in_context_triplets(train, seed=1))  # seeded
    # A positive whose word has no different-sense instance has no negative: left out.
    only_positive = train.filter(pl.col("label") | (pl.col("target") != "bank"))
    kept = word_in_context_triplets(only_positive, seed=1)
    assert kept.height == train["label"].sum() - train.filter(
        pl.col("label") & (pl.col("target") == "bank")
    ).height


# --- the stage -----------------------------------------------------------------------------


def word_data(tmp_path: Path) -> dict:
    return {
        "source": "word-in-context",
        "collections": ["xl-wic", "am2ico", "senwich"],
        "folders": {
            "xl-wic": str(write_xlwic(tmp_path / "xlwic")),
            "am2ico": str(write_am2ico(tmp_path / "am2ico")),
            "senwich": str(write_senwich(tmp_path / "senwich")),
        },
        "urls": {"xl-wic": None, "am2ico": None, "senwich": None},
        "sha256": {},
    }


def test_word_pairs_keep_the_study_languages_and_leave_out_evaluated_texts(tmp_path: Path):
    from test_fine_tuning import default_training, entity_tables

    queries, qrels, docs = entity_tables()
    # An evaluated query that is also a word-in-context sentence.
    leaked = SENSES["en"]["bat"][0][0]
    queries = queries.with_columns(
        pl.when(pl.col("query_id") == "dk-en").then(pl.lit(leaked)).otherwise("text").alias("text")
    )
    paths = {}
    for name, table in {"queries": queries.filter(pl.col("split") == "test"), "qrels": qrels,
                        "docs": docs}.items():  # fmt: skip
        paths[name] = tmp_path / f"{name}.parquet"
        table.write_parquet(paths[name])
    model = {"name": "w", "level": "word", "data": word_data(tmp_path), "datasets": ["a"]}
    fine_tuning_pairs(
        model, "shared", default_training(), {},
        [{"queries": paths["queries"], "qrels": paths["qrels"], "docs": [paths["docs"]],
          "relevance_threshold": 1}],
        tmp_path / "downloads", tmp_path / "train.parquet", tmp_path / "validation.parquet",
        tmp_path / "pool.parquet", tmp_path / "pool_qrels.parquet",
    )  # fmt: skip
    assert pl.read_parquet(tmp_path / "pool.parquet").is_empty()  # word: validated on pairs
    train = pl.read_parquet(tmp_path / "train.parquet")
    validation = pl.read_parquet(tmp_path / "validation.parquet")
    # The study's languages are de, en, es, ja: all three collections contribute.
    assert set(zip(train["anchor_lang"], train["positive_lang"], strict=True)) == {
        ("en", "en"), ("de", "de"), ("en", "de")
    }  # fmt: skip
    texts = {*train["anchor"], *train["positive"], *train["negative"]}
    assert leaked not in texts and SENSES["en"]["bat"][0][1] in texts
    assert validation["label"].dtype == pl.Boolean and validation["label"].any()
    assert not validation["label"].all()


def test_word_level_mistakes_are_named_at_start_up(tmp_path: Path):
    from test_fine_tuning import study_config

    config = study_config(
        models={
            "w1": {"base": "minilm", "level": "word"},
            "w2": {"base": "minilm", "level": "word", "data": {"source": "word-in-context"}},
            "w3": {"base": "minilm", "level": "word",
                   "data": {"source": "word-in-context", "collections": ["xl-wic"]}},
            "p": {"base": "minilm", "level": "phrase", "data": {"source": "word-in-context"}},
        }
    )  # fmt: skip
    errors = Study(validated_settings(config)).notices()[1]
    assert any("models.w1.data.source: a word-level model trains on word-in-context" in e
               for e in errors)
    assert any("models.w2.data.folders.senwich: senwich has no download address" in e
               for e in errors)
    assert not any(".w3." in e for e in errors)  # XL-WiC downloads from its release
    assert any("models.p.data.source: word-in-context instances train word-level" in e
               for e in errors)
    assert len(errors) == 3


@pytest.mark.slow
def test_a_word_level_model_trains_and_is_selected_by_accuracy_at_a_tuned_threshold(tmp_path):
    from test_fine_tuning import MINILM, quick_settings

    from clirbench.embed.encoders import EncoderConfig
    from clirbench.finetune.pairs import word_in_context_validation
    from clirbench.finetune.train import train_encoder
    from clirbench.finetune.validation import WordInContextEvaluator

    instances_table = word_in_context_instances(word_data(tmp_path), {"en", "de"},
                                                tmp_path / "d", "k")  # fmt: skip
    triplets = word_in_context_triplets(instances_table.filter(pl.col("split") == "train"), 1)
    validation = word_in_context_validation(instances_table.filter(pl.col("split") == "dev"))
    evaluator = WordInContextEvaluator(validation, "")
    record = train_encoder(
        EncoderConfig.from_config("minilm", MINILM), "word", quick_settings(max_epochs=2),
        triplets, evaluator, tmp_path / "model", tmp_path / "checkpoints", 2,
        {"name": "w", "config_key": "stages.fine_tuning.models.w"},
    )  # fmt: skip
    assert record["selected_by"] == "validation_cosine_accuracy"
    scores = [epoch["validation_cosine_accuracy"] for epoch in record["epochs"]]
    assert len(scores) == 2 and all(0.5 <= s <= 1 for s in scores)
    assert record["chosen_epoch"] == 1 + scores.index(max(scores))
    assert "validation_cosine_accuracy_threshold" in record["epochs"][0]
    assert (tmp_path / "model" / "model.safetensors").exists()
