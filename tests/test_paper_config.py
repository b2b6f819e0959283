"""config/paper.yaml: the whole study plans offline, job counts match the configured grid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clirbench.core.settings import validated_settings
from clirbench.core.systems import DENSE_EXACT, DENSE_HNSW, LEXICAL, Study

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"


def dry_run(config_path: Path, results_dir: Path) -> subprocess.CompletedProcess[str]:
    """Plan into an empty results folder, so what exists in results/ does not matter."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "snakemake", "-n", "--configfile", str(config_path)),
            *("--config", f"results_dir={results_dir}"),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {
        rule: int(n)
        for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
        if rule != "total"
    }


@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    result = dry_run(PAPER, tmp_path_factory.mktemp("results"))
    assert result.returncode == 0, result.stderr[-4000:]
    return yaml.safe_load(PAPER.read_text()), result.stdout + result.stderr


def test_paper_config_plans_every_job_of_the_grid(paper_plan: tuple[dict, str]) -> None:
    config, output = paper_plan
    study = Study(validated_settings(config))
    datasets, encoders, bm25 = config["datasets"], config["encoders"], config["bm25"]
    runs_per_system = sum(len(study.conditions(name)) for name in datasets)
    fine_tuned = config["stages"]["fine_tuning"]["models"]
    assert len(study.systems_of(LEXICAL)) == len(bm25)
    assert len(study.systems_of(DENSE_EXACT)) == len(encoders) + len(fine_tuned)
    # Fine-tuned encoders: each trained once per scope, then embedded and searched on the
    # original documents (every condition, as the base) of each dataset it is trained for.
    trainings = len(study.training_units())
    fine_tuned_runs = sum(
        len(study.encoder_conditions(dataset, name))
        for name, model in fine_tuned.items()
        for dataset in model["datasets"]
    )
    fine_tuned_query_sets = sum(len(model["datasets"]) for model in fine_tuned.values())
    # Re-ranking: each re-ranker trained once per dataset, re-ranking each first stage on the
    # original documents, plain and injected; its runs evaluated like any other.
    reranker_units = len(study.reranking_units())
    reranked_runs = len([key for key in study.run_grid() if key.system.reranker is not None])
    # Approximate search: an `<encoder>+hnsw` system per encoder, an index per pool, the
    # efficiency job on each dataset's original documents, one overlap table per dataset.
    assert len(study.systems_of(DENSE_HNSW)) == len(encoders)
    # NLLB translates CLIRMatrix and Large-Scale CLIR; its chunk jobs are planned once the
    # documents exist (a checkpoint). The pilot runs NLLB (DeepL and LibreTranslate have no
    # key or URL here) and COMET-Kiwi where `make comet-env` has made its environment.
    translated = [d for d, _ in study.corpus_translations()]
    assert sorted(translated) == ["clirmatrix", "wikiclir"]
    comet = int((ROOT / ".venv-comet" / "bin" / "python").is_file())
    assert job_counts(output) == {
        "plan_translation": len(translated),
        "gather_translation": len(translated),
        "pilot_sample": 1,
        "pilot_translate": 1,
        "pilot_score": 1,
        **({"pilot_comet": 1} if comet else {}),
        "pilot_summary": 1,
        "prepare_dataset": len(datasets),
        "split_queries": len(datasets),
        "count_dataset": len(datasets),
        "fine_tuning_pairs": trainings,
        "fine_tune": trainings,
        "embed_queries": len(datasets) * len(encoders) + fine_tuned_query_sets,
        "embed_docs": runs_per_system * len(encoders) + fine_tuned_runs,
        "bm25_run": runs_per_system * len(bm25),
        "dense_run": runs_per_system * len(encoders) + fine_tuned_runs,
        "hnsw_index": runs_per_system * len(encoders),
        "hnsw_run": runs_per_system * len(encoders),
        "ann_efficiency": len(datasets) * len(encoders),
        "ann_overlap": len(datasets),
        "reranker_pairs": reranker_units,
        "train_reranker": reranker_units,
        "rerank_queries": len(datasets) - 1,  # not Tatoeba: no re-ranker trains there
        "rerank_run": reranked_runs,
        "evaluate_run": runs_per_system * (len(bm25) + 2 * len(encoders)) + fine_tuned_runs
        + reranked_runs,
        "summarise_metrics": 1,
        # Analyses: the tests per (dataset, condition), the bias of each dataset's original
        # documents, one similarity job over summary.csv.
        "significance": runs_per_system,
        "language_bias": len(datasets),
        "language_similarity": 1,
        # One job identifies every model (BM25s, encoders, trained models) for the report.
        "describe_models": 1,
        "report": 1,
        "export_mteb": 1,
        "all": 1,
    }


def test_paper_config_names_the_papers_models_on_gpus(paper_plan: tuple[dict, str]) -> None:
    config, output = paper_plan
    models = {settings["model"] for settings in config["encoders"].values()}
    assert {
        "FacebookAI/xlm-roberta-large",
        "sentence-transformers/LaBSE",
        "intfloat/multilingual-e5-large",
        "nomic-ai/nomic-embed-text-v2-moe",
        "jhu-clsp/mmBERT-base",
    } == models
    embed_blocks = [
        b for b in output.split("\nrule ")[1:] if b.startswith(("embed_docs", "embed_queries"))
    ]
    assert embed_blocks and all(re.search(r"\bgpu=1\b", block) for block in embed_blocks)
    hnsw = config["stages"]["ann_search"]
    assert (hnsw["M"], hnsw["ef_construction"], hnsw["ef"]) == (16, 200, 50)


def test_every_stage_is_switched_on_and_notices_name_what_is_skipped(
    paper_plan: tuple[dict, str],
) -> None:
    _, output = paper_plan
    for stage in ("translation", "ann_search", "fine_tuning", "reranking"):
        assert f"stages.{stage}: switched off" not in output
    for service in ("deepl", "libretranslate"):
        assert f"stages.translation.pilot.systems: {service} skipped" in output
    assert "datasets clirmatrix, wikiclir: no reference English documents" in output


def test_paper_config_translates_with_nllb_on_gpus(paper_plan: tuple[dict, str]) -> None:
    config, output = paper_plan
    nllb = config["stages"]["translation"]["translators"]["nllb"]
    assert nllb["model"] == "facebook/nllb-200-distilled-1.3B"
    assert (nllb["num_beams"], nllb["max_input_tokens"]) == (5, 1200)
    assert config["stages"]["translation"]["pilot"]["documents_per_language"] == 100
    assert "Unbabel/wmt22-cometkiwi-da" == config["stages"]["translation"]["pilot"]["comet"]["model"]
    translate_blocks = [b for b in output.split("\nrule ")[1:] if b.startswith("pilot_translate")]
    assert translate_blocks and all(re.search(r"\bgpu=1\b", b) for b in translate_blocks)


def test_paper_reranking_plans_xlmr_base_and_nomic_with_easy_and_hard_negatives(
    paper_plan: tuple[dict, str],
) -> None:
    """The paper's Table 6: XLM-R base and Nomic as cross-encoders on each dataset with easy
    negatives, and with hard ones where the dataset has candidates (CLIRMatrix's graded
    lists, mMARCO's BM25 ranking), re-ranking BM25 (and, beyond the paper, me5-large)."""
    config, output = paper_plan
    study = Study(validated_settings(config))
    trained = {
        (study.rerankers[name].model, study.rerankers[name].negatives, dataset)
        for name, dataset in study.reranking_units()
    }
    for model in ("FacebookAI/xlm-roberta-base", "nomic-ai/nomic-embed-text-v2-moe"):
        assert {(model, "easy", d) for d in ("clirmatrix", "mmarco", "wikiclir")} <= trained
        assert {(model, "hard", d) for d in ("clirmatrix", "mmarco")} <= trained
        assert (model, "hard", "wikiclir") not in trained
    assert len(trained) == 10
    sources = {r.hard_negatives_from for r in study.rerankers.values() if r.negatives == "hard"}
    assert sources == {"judged-candidates", "bm25-whitespace"}
    blocks = [b for b in output.split("\nrule ")[1:] if b.startswith(("train_reranker", "rerank_run"))]
    assert blocks and all(re.search(r"\bgpu=1\b", block) for block in blocks)
    systems = {key.system.name for key in study.run_grid() if key.system.reranker is not None}
    assert "bm25-whitespace>xlmr-base-hard-judged+injected" in systems
    assert "bm25-whitespace>xlmr-base-hard-judged" in systems  # the plain pipeline beside it


def test_paper_fine_tuning_plans_two_models_at_three_levels_on_three_datasets(
    paper_plan: tuple[dict, str],
) -> None:
    """The paper's Table 4: XLM-R and Nomic at the word and phrase levels (one model each,
    shared by the datasets) and at the query-document level (one per dataset, on the
    collection's own training queries), each trained on a GPU, embedded and searched like
    any encoder on its datasets only."""
    config, output = paper_plan
    study = Study(validated_settings(config))
    models = config["stages"]["fine_tuning"]["models"]
    assert sorted((m["base"], m["level"]) for m in models.values()) == sorted(
        (base, level) for base in ("xlmr-large", "nomic-v2-moe")
        for level in ("word", "phrase", "query-document")
    )  # fmt: skip
    units = study.training_units()
    assert len(units) == 2 * (1 + 1 + 3)
    for model in models.values():
        assert model["datasets"] == ["clirmatrix", "mmarco", "wikiclir"]
        if model["level"] == "query-document":
            assert set(model["data"]["training_queries"]) == set(model["datasets"])
    blocks = [b for b in output.split("\nrule ")[1:] if b.startswith("fine_tune:")]
    assert len(blocks) == len(units) and all(re.search(r"\bgpu=1\b", b) for b in blocks)
    assert "tatoeba" not in {key.dataset for key in study.run_grid() if key.system.fine_tuned}


def test_offline_xquad_config_plans(tmp_path: Path, xquad_folder: Path) -> None:
    # config/xquad.yaml reads ../shared/data: start-up checks its folders are there, so the
    # plan is only made where they are (skipped on a clone without them, like test_datasets).
    path = ROOT / "config" / "xquad.yaml"
    result = dry_run(path, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    config = yaml.safe_load(path.read_text())
    study = Study(validated_settings(config))
    # Tatoeba xx-en already searches English sentences: it has no English condition.
    for tatoeba in ("tatoeba", "tatoeba-mteb"):
        assert [c.name for c in study.conditions(tatoeba)] == ["original"]
    assert [c.name for c in study.conditions("xquad")] == ["original", "reference-english"]
    # Tatoeba both ways: pooled (this study's reading) and MTEB's, searched per language.
    datasets = study.settings.datasets
    assert (datasets["tatoeba"].candidate_pool, datasets["tatoeba-mteb"].candidate_pool) == (
        "all",
        "group",
    )
    counts = job_counts(result.stdout)
    assert counts["prepare_dataset"] == 3
    assert counts["bm25_run"] == 4 * len(config["bm25"])
    grouped = [b for b in result.stdout.split("\nrule ")[1:] if b.startswith("bm25_run:")]
    assert len(grouped) == counts["bm25_run"]
    for block in grouped:
        assert ("query_groups.parquet" in block) == ("runs/tatoeba-mteb/" in block)


def test_unknown_wikiclir_collection_fails_at_validation(tmp_path: Path) -> None:
    config = yaml.safe_load(PAPER.read_text())
    config["datasets"]["wikiclir"]["languages"].append("simple")
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(config))
    result = dry_run(path, tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert 'datasets.wikiclir.languages[25]: "simple" is not one of' in output
    assert "did you mean en-simple?" in output


def test_workflow_passes_snakemakes_linter() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
