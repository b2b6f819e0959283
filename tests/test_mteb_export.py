"""The MTEB-layout export: one folder per system, one TaskResult per (dataset, condition),
the scores summary.csv holds under MTEB's names."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from clirbench.report.mteb_export import export_mteb, mteb_language, mteb_metric_name


def summary() -> pl.DataFrame:
    rows = [
        ("cards", "original", "me5", "de", "en", "recall@100", 0.8, 7),
        ("cards", "original", "me5", "de", "en", "ndcg@10", 0.5, 7),
        ("cards", "original", "me5", "zh", "en", "recall@100", 0.6, 5),
        ("cards", "original", "me5", "zh", "en", "ndcg@10", 0.3, 5),
        ("cards", "original", "me5", "all", "all", "recall@100", 0.7, 12),
        ("cards", "original", "me5", "all", "all", "ndcg@10", 0.4, 12),
        ("cards", "original", "me5+hnsw", "all", "all", "recall@100", 0.69, 12),
        ("cards", "original", "me5+hnsw", "all", "all", "ndcg@10", 0.39, 12),
    ]
    return pl.DataFrame(
        rows,
        schema=["dataset", "condition", "system", "query_lang", "doc_lang", "metric", "value",
                "n_queries"],
        orient="row",
    )  # fmt: skip


def test_each_system_has_its_task_results_and_model_meta(tmp_path: Path) -> None:
    models = {"me5": {"name": "intfloat/multilingual-e5-small", "revision": "abc123",
                      "n_parameters": 117_653_760, "embed_dim": 384}}  # fmt: skip
    export_mteb(summary(), models, tmp_path)
    folder = tmp_path / "me5" / "abc123"
    meta = json.loads((folder / "model_meta.json").read_text())
    assert meta["name"] == "intfloat/multilingual-e5-small" and meta["n_parameters"] == 117_653_760
    result = json.loads((folder / "clirbench-cards-original.json").read_text())
    assert result["task_name"] == "clirbench-cards-original"
    entries = {entry["hf_subset"]: entry for entry in result["scores"]["test"]}
    assert set(entries) == {"all", "de-en", "zh-en"}
    assert entries["de-en"]["recall_at_100"] == 0.8 == entries["de-en"]["main_score"]
    assert entries["de-en"]["ndcg_at_10"] == 0.5 and entries["de-en"]["n_queries"] == 7
    assert entries["de-en"]["languages"] == ["deu-Latn", "eng-Latn"]
    assert entries["all"]["languages"] == ["deu-Latn", "eng-Latn", "zho-Hans"]
    assert entries["all"]["main_score"] == 0.7 and entries["all"]["n_queries"] == 12
    # A system without a known model: its own folder, MTEB's no-revision name.
    hnsw = tmp_path / "me5+hnsw" / "no_revision_available" / "clirbench-cards-original.json"
    assert json.loads(hnsw.read_text())["scores"]["test"][0]["recall_at_100"] == 0.69


def test_names_as_mteb_spells_them() -> None:
    assert mteb_metric_name("recall@100") == "recall_at_100"
    assert mteb_language("ja") == "jpn-Jpan" and mteb_language("ar") == "ara-Arab"


def test_model_meta_from_the_provenance_records() -> None:
    from clirbench.report.mteb_export import model_meta

    encoder = {"name": "me5", "reference": "intfloat/multilingual-e5-small", "revision": "abc",
               "fingerprint": None, "parameters": 117_653_760, "dimension": 384}  # fmt: skip
    meta = model_meta("me5+hnsw", {"model": "me5", "description": "HNSW"}, [encoder])
    assert (meta["name"], meta["revision"], meta["n_parameters"], meta["embed_dim"]) == (
        "intfloat/multilingual-e5-small", "abc", 117_653_760, 384
    )
    assert meta["clirbench_system"] == "me5+hnsw" and meta["models"] == [encoder]
    # A re-ranker trained per dataset: two fingerprints, no single revision.
    per_dataset = [
        {"name": "ce", "reference": "m", "fingerprint": f, "parameters": 10, "dimension": 1}
        for f in ("f1", "f2")
    ]
    reranked = model_meta("bm25>ce", {"model": "ce", "first_stage": "bm25"}, per_dataset)
    assert reranked["revision"] is None and reranked["first_stage"] == "bm25"
    # Without a record (e.g. a system the provenance job does not describe): its name.
    assert model_meta("x", {"model": "x"}, [])["name"] == "x"
