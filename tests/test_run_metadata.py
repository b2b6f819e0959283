"""Run metadata: the real elapsed and busy time from benchmark files, the commit, the
hardware, the study's title, and the page that states them."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import polars as pl
import pytest
import yaml

from clirbench.core.atomic import write_csv, write_json
from clirbench.core.settings import validated_settings
from clirbench.provenance.source import cpu_model, hardware, source_commit, total_memory_bytes
from clirbench.report import rules
from clirbench.report.page import render_report
from clirbench.report.run_metadata import (
    busy_seconds,
    format_duration,
    job_times_from_benchmarks,
    run_times,
    stage_times_from_benchmarks,
    study_title,
)

ROOT = Path(__file__).resolve().parents[1]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
# 2026-03-01 12:00:00 UTC
T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC).timestamp()


def benchmark(root: Path, name: str, end: float, *seconds: float) -> Path:
    """A benchmark file of rule/job `name`, one row per repetition, ending at `end`."""
    path = root / "benchmarks" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{s}\t{format_duration(s)}\t1\t1\t1\t1\t0\t0\t50\t{s}\n" for s in seconds)
    path.write_text(HEADER + rows)
    os.utime(path, (end, end))
    return path


def killed_and_resumed_run(root: Path) -> list[Path]:
    """Two jobs side by side (0-100 s, 40-160 s), a pause of an hour after a kill, then one
    job repeated twice (3,760-3,800 s: 2 x 20 s)."""
    return [
        benchmark(root, "embed/a", T0 + 100, 100.0),
        benchmark(root, "embed/b", T0 + 160, 120.0),
        benchmark(root, "evaluate/a", T0 + 3800, 20.0, 20.0),
    ]


def test_elapsed_busy_and_summed_time_of_a_run_with_a_pause(tmp_path: Path) -> None:
    paths = killed_and_resumed_run(tmp_path)
    jobs = job_times_from_benchmarks(paths)
    assert jobs.select("stage", "start", "end").rows() == [
        ("embed", T0, T0 + 100),
        ("embed", T0 + 40, T0 + 160),
        ("evaluate", T0 + 3760, T0 + 3800),
    ]
    times = run_times(jobs)
    assert times == {
        "started": T0,
        "ended": T0 + 3800,
        "elapsed_seconds": 3800.0,
        "busy_seconds": 160.0 + 40.0,  # the overlap counted once, the pause not at all
        "job_seconds": 100.0 + 120.0 + 40.0,
        "jobs": 3,
    }
    # The per-stage sums are what they were.
    assert stage_times_from_benchmarks(paths).rows() == [("embed", 2, 220.0), ("evaluate", 1, 40.0)]
    assert run_times(job_times_from_benchmarks([])) is None


def test_busy_time_is_the_union_of_intervals() -> None:
    assert busy_seconds([]) == 0
    assert busy_seconds([(0, 10), (2, 5), (10, 12), (20, 21)]) == 13  # nested, touching, apart
    assert busy_seconds([(5, 9), (0, 6)]) == 9  # order does not matter


def test_only_the_papers_data_is_called_a_reproduction() -> None:
    demo = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    demo_types = {name: s.type for name, s in validated_settings(demo).datasets.items()}
    paper_types = {name: s.type for name, s in validated_settings(paper).datasets.items()}

    title = study_title(demo_types)
    assert "Reproduction of" not in title and "Not a reproduction" in title
    assert "demo (CLDR cards)" in title
    title = study_title(paper_types)
    assert title.startswith("Reproduction of “What Drives Cross-lingual Ranking?”")
    assert "CLIRMatrix, Large-Scale CLIR, Tatoeba and mMARCO data" in title
    mixed = study_title({"xq": "xquad", "mine": "local"})
    assert mixed.startswith("Partly a reproduction") and "XQuAD" in mixed
    assert "mine (local files)" in mixed
    assert "reproduction" not in study_title({}).lower()


def _page(metadata: dict) -> str:
    summary = pl.DataFrame(
        {
            "dataset": ["d"], "condition": ["original"], "system": ["bm25"],
            "query_lang": ["all"], "doc_lang": ["all"], "metric": ["recall@100"],
            "value": [0.5], "n_queries": [3],
        }
    )  # fmt: skip
    stages = pl.DataFrame({"stage": ["encode"], "jobs": [1], "seconds": [1.0]})
    return render_report(summary, metadata, stages, [])


def test_the_subtitle_follows_the_datasets() -> None:
    def subtitle(types: dict[str, str]) -> str:
        found = re.search(r'<p class="subtitle">(.*?)</p>', _page({"dataset_types": types}))
        assert found is not None
        return found.group(1)

    assert "Not a reproduction" in subtitle({"demo": "cldr_cards"})
    assert "Reproduction of" not in subtitle({"demo": "cldr_cards"})
    assert subtitle({"clirmatrix": "clirmatrix", "mmarco": "mmarco"}).startswith("Reproduction of")


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_commit_of_a_checkout_and_its_uncommitted_changes(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git(checkout, "init", "-q")
    (checkout / "Snakefile").write_text("rule all:\n")
    (checkout / ".gitignore").write_text("results/\n")
    git(checkout, "add", ".")
    git(checkout, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = git(checkout, "rev-parse", "HEAD")
    assert source_commit(checkout) == {"commit": head, "uncommitted_changes": False}
    # Ignored outputs are no change; an untracked file or an edit is.
    (checkout / "results").mkdir()
    (checkout / "results" / "report.html").write_text("x")
    assert source_commit(checkout)["uncommitted_changes"] is False
    (checkout / "new.py").write_text("x = 1\n")
    assert source_commit(checkout) == {"commit": head, "uncommitted_changes": True}
    (checkout / "new.py").unlink()
    (checkout / "Snakefile").write_text("rule all:\n    input: []\n")
    assert source_commit(checkout)["uncommitted_changes"] is True

    unknown = {"commit": "unknown", "uncommitted_changes": None}
    release = tmp_path / "release"  # a tarball: no git at all
    release.mkdir()
    (release / "Snakefile").write_text("rule all:\n")
    assert source_commit(release) == unknown
    # A tarball unpacked inside another repository does not take that repository's commit.
    inside = checkout / "vendored"
    inside.mkdir()
    (inside / "Snakefile").write_text("rule all:\n")
    assert source_commit(inside) == unknown


def test_hardware_from_proc_files(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n\nprocessor\t: 1\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree:        1 kB\n")
    assert cpu_model(cpuinfo) == "Test CPU 9000"
    assert total_memory_bytes(meminfo) == 16_384_000 * 1024
    assert cpu_model(tmp_path / "missing")  # falls back to what platform knows
    found = hardware()
    assert found["logical_cores"] >= found["usable_cores"] >= 1
    assert found["memory_bytes"] > 0 and isinstance(found["gpus"], list)


def test_the_report_states_times_commit_hardware_and_models(tmp_path: Path) -> None:
    out_root = tmp_path / "results"
    summary = pl.DataFrame(
        {
            "dataset": ["d"], "condition": ["original"], "system": ["tiny"],
            "query_lang": ["all"], "doc_lang": ["all"], "metric": ["recall@100"],
            "value": [0.5], "n_queries": [3],
        }
    )  # fmt: skip
    write_csv(summary, out_root / "metrics" / "summary.csv")
    models = out_root / "provenance" / "models.json"
    write_json(
        {
            "models": [
                {
                    "name": "tiny", "scope": None, "role": "encoder", "base": None,
                    "reference": "org/tiny-bert", "revision": "ab" * 20, "fingerprint": None,
                    "identity": {"hf_id": "org/tiny-bert", "commit": "ab" * 20},
                    "packages": [["transformers", "5.23.0"], ["torch", "2.13.0"]],
                    "dimension": 32, "parameters": 1_234_567, "counted_from": "model.safetensors",
                }
            ]
        },
        models,
    )  # fmt: skip
    metadata = {
        "config_hash": "c0ffee",
        "models": {"tiny": "org/tiny-bert [hf]"},
        "dataset_types": {"d": "cldr_cards"},
        "source": {"commit": "12" * 20, "uncommitted_changes": True},
    }
    out = out_root / "report.html"
    benchmarks = killed_and_resumed_run(out_root)
    rules.report(out_root / "metrics" / "summary.csv", [], benchmarks, metadata, out, models=models)

    page = out.read_text(encoding="utf-8")
    facts = re.search(r'id="run-facts">(.*?)</table>', page, re.DOTALL)
    assert facts is not None
    facts_text = re.sub(r"<[^>]+>", "", facts.group(1))
    assert "first job started 2026-03-01 12:00:00 UTC, last job ended 2026-03-01 13:03:20 UTC" in (
        facts_text
    )
    assert "Elapsed time1:03:20" in facts_text and "1:00:00 with no job running" in facts_text
    assert "Busy time0:03:20" in facts_text
    assert "Summed job time0:04:20 (the 3 jobs" in facts_text
    commit = f'<code title="{"12" * 20}">{"12" * 6}</code>, with uncommitted changes'
    assert commit in facts.group(1)
    assert f"{hardware()['logical_cores']} logical cores" in facts_text and "GPU: " in facts_text
    assert "run of 2026-03-01" in page and "Not a reproduction" in page
    table = re.search(r'id="models">(.*?)</table>', page, re.DOTALL)
    assert table is not None
    assert f'commit <code title="{"ab" * 20}">{"ab" * 6}</code>' in table.group(1)
    size = '<td class="num">32</td><td class="num" title="model.safetensors">1,234,567</td>'
    assert size in table.group(1)
    assert "transformers 5.23.0, torch 2.13.0" in table.group(1)
    assert "org/tiny-bert [hf]" in page  # the systems' descriptions
