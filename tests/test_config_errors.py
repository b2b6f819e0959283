"""Config mistakes are reported as `key.path: problem` lines, with no schema dump."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_runner import ROOT, run_snakemake

from clirbench.core.config_validation import ConfigError, checked_config, config_source
from clirbench.core.settings import embedding_cache_folder

DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def demo(**changes: Any) -> dict[str, Any]:
    """The demo config with dotted keys set (`"retrieval.top_k": 5`), or removed (None)."""
    config = copy.deepcopy(DEMO)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        entry = config
        for part in parents:
            entry = entry.setdefault(part, {})
        if value is None:
            del entry[last]
        else:
            entry[last] = value
    return config


def problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        checked_config(config)
    return raised.value.problems


def test_the_demo_config_is_valid_and_completed_with_the_schemas_defaults() -> None:
    config = demo(**{"retrieval": None, "bm25.bm25-icu": {}})
    completed = checked_config(config)
    assert completed["retrieval"] == {"top_k": 100}
    assert completed["bm25"]["bm25-icu"] == {
        "analyzer": "icu",
        "k1": 1.5,
        "b": 0.75,
        "method": "lucene",
    }
    assert completed["encoders"]["minilm-hf"]["device"] == "cpu"
    assert "retrieval" not in config  # the caller's config is left as it was


def test_unknown_key_suggests_the_known_one() -> None:
    config = demo(**{"bm25.bm25-icu": {"analyzer": "icu", "k_1": 1.2}})
    assert problems(config) == ["bm25.bm25-icu.k_1: unknown key; did you mean k1?"]


def test_unknown_key_without_a_close_match_lists_the_known_keys() -> None:
    config = demo(**{"retrieval.depth": 10})
    assert problems(config) == ["retrieval.depth: unknown key (known keys: top_k)"]


def test_wrong_type_says_what_is_expected() -> None:
    assert problems(demo(**{"retrieval.top_k": "ten"})) == [
        'retrieval.top_k: expected an integer >= 1, got "ten"'
    ]
    assert problems(demo(**{"retrieval.top_k": 0})) == [
        "retrieval.top_k: expected an integer >= 1, got 0"
    ]
    assert problems(demo(**{"datasets.demo.max_entities": "all"})) == [
        'datasets.demo.max_entities: expected an integer >= 1 or null, got "all"'
    ]


def test_bad_enum_value_suggests_the_likely_one() -> None:
    assert problems(demo(**{"evaluation.query_split": "tset"})) == [
        'evaluation.query_split: "tset" is not one of train, dev, test, all; did you mean test?'
    ]
    wikiclir = {"type": "wikiclir", "languages": ["de", "simple"]}
    [problem] = problems(demo(**{"datasets.wiki": wikiclir}))
    assert problem.startswith('datasets.wiki.languages[1]: "simple" is not one of ar, ca,')
    assert problem.endswith("; did you mean en-simple?")


def test_missing_required_key_is_named() -> None:
    assert problems(demo(experiment=None)) == ["experiment: missing (required)"]
    assert problems(demo(**{"encoders.minilm-hf.model": None})) == [
        "encoders.minilm-hf.model: missing (required)"
    ]


def test_a_missing_type_is_the_only_problem_of_its_entry() -> None:
    # With no `type`, every type's if/then applies: their complaints are consequences.
    mine = {"docs": "d.jsonl", "queries": "q.jsonl", "qrels": "r.txt"}
    assert problems(demo(**{"datasets.mine": mine})) == ["datasets.mine.type: missing (required)"]


def test_every_problem_is_listed_the_best_match_first() -> None:
    config = demo(**{"bm25.bm25-icu.analyser": "icu", "retrieval.top_k": -1, "experimnt": "x"})
    found = problems(config)
    assert sorted(found) == [
        "bm25.bm25-icu.analyser: unknown key; did you mean analyzer?",
        "experimnt: unknown key; did you mean experiment?",
        "retrieval.top_k: expected an integer >= 1, got -1",
    ]
    with pytest.raises(ConfigError) as raised:
        checked_config(config, source="config/mine.yaml")
    message = str(raised.value)
    assert message.startswith("config errors in config/mine.yaml:\n  ")
    assert len(message.splitlines()) == 4


def test_a_single_problem_is_one_line_naming_the_file() -> None:
    with pytest.raises(ConfigError) as raised:
        checked_config(demo(**{"retrieval.top_k": "ten"}), source="config/mine.yaml")
    assert str(raised.value) == (
        'config error in config/mine.yaml: retrieval.top_k: expected an integer >= 1, got "ten"'
    )


def test_bad_names_and_lists_are_explained() -> None:
    assert problems(demo(**{"datasets.demo.languages": ["en", "en"]})) == [
        'datasets.demo.languages: "en" listed more than once'
    ]
    assert problems(demo(**{"datasets.demo.languages": ["en"]})) == [
        "datasets.demo.languages: expected at least 2 items, got 1"
    ]
    [problem] = problems(demo(**{"datasets.my data": {"type": "xquad"}}))
    assert problem.startswith('datasets: "my data" is not a valid name')


def test_config_source_names_files_and_overrides(tmp_path: Path) -> None:
    assert config_source(["config/paper.yaml"]) == "config/paper.yaml"
    elsewhere = tmp_path / "study.yaml"
    assert config_source([elsewhere], overridden=True) == f"{elsewhere} with --config overrides"


def test_snakemake_prints_the_problem_alone(tmp_path: Path) -> None:
    config = demo(**{"results_dir": str(tmp_path / "results"), "bm25.bm25-icu.k_1": 1.2})
    result = run_snakemake(config, tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "bm25.bm25-icu.k_1: unknown key; did you mean k1?" in output
    assert f"config error in {tmp_path / 'config.yaml'}" in output
    assert len(output.splitlines()) < 40, output
    for dump in ("Failed validating", "On instance", "additionalProperties", "'$schema'"):
        assert dump not in output, output


def test_the_embedding_cache_is_kept_outside_the_results(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Reliability finding 10: `make clean` deletes results/, which held the cache; by default
    the cache is now in the user's cache folder, and an explicit folder is honoured."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = checked_config(demo(), "config/config.yaml")
    default = embedding_cache_folder(config["embedding_cache"])
    assert default == tmp_path / "xdg" / "clirbench" / "embeddings"
    results = (ROOT / config["results_dir"]).resolve()
    assert not default.resolve().is_relative_to(results)
    makefile = (ROOT / "Makefile").read_text().splitlines()
    clean = next(line for line in makefile if "rm -rf results" in line)
    assert "cache" not in clean
    assert embedding_cache_folder("~/elsewhere") == Path.home() / "elsewhere"


def test_candidate_pool_and_protocol_are_dataset_options() -> None:
    tatoeba = {"type": "tatoeba", "languages": ["deu"]}
    completed = checked_config(demo(**{"datasets.t": tatoeba}))["datasets"]["t"]
    assert (completed["protocol"], completed["candidate_pool"]) == ("pooled", None)
    assert checked_config(DEMO)["datasets"]["demo"]["candidate_pool"] is None
    assert problems(demo(**{"datasets.t": tatoeba | {"candidate_pool": "groups"}})) == [
        'datasets.t.candidate_pool: "groups" is not one of all, group, null; did you mean group?'
    ]
    assert problems(demo(**{"datasets.t": tatoeba | {"protocol": "mtbe"}})) == [
        'datasets.t.protocol: "mtbe" is not one of pooled, mteb; did you mean mteb?'
    ]
