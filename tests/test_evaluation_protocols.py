"""Evaluation protocols researchers compare against (issue 14): the unit, the metrics, the
run depth, empty runs.

- `evaluation.unit: query` gives ir-measures' per-query numbers on qrels whose queries have
  relevant documents in several languages (LAReQA, XQuAD-R), and the default per-pair unit
  gives ir-measures' numbers on the qrels of one document language at a time;
- MAP@100, full AP, P@1 and R@1 match ir-measures per query, with tied scores, graded qrels
  and queries missing from the run (0 here and in ir-measures 0.4, which fills them in;
  pytrec_eval on its own leaves them out, raising its averages);
- the report states the unit and names the metrics that the run depth cuts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import ir_measures
import numpy as np
import polars as pl
import pytest
from ir_measures import AP, RR, P, R, nDCG

from clirbench.core.config_validation import ConfigError, checked_config
from clirbench.core.languages import is_known_language
from clirbench.core.settings import validated_settings
from clirbench.core.study_notices import depth_notices
from clirbench.core.systems import Study
from clirbench.evaluate.coverage import cut_metrics, metric_cutoff, run_coverage
from clirbench.evaluate.dataset_counts import DatasetStatistics
from clirbench.evaluate.metrics import (
    METRICS,
    MULTIPLE,
    QUERY,
    QUERY_DOC_LANGUAGE,
    evaluate_run,
    summarise_pairs,
    summary_table,
)
from clirbench.report.evaluation_protocol import evaluation_section
from clirbench.report.heatmaps import heatmaps
from clirbench.report.mteb_export import export_mteb, mteb_language, mteb_metric_name
from clirbench.report.page import render_report
from clirbench.report.per_language import per_language

DOC_LANGS = ["ar", "de", "en", "zh"]
QUERY_LANGS = ["de", "en", "ja"]
TOLERANCE = 1e-9


def multilingual_collection(seed: int, tied_scores: bool = True) -> dict[str, pl.DataFrame]:
    """Queries with relevant documents in one to four languages at once, as LAReQA's.

    Graded judgements (0-3), 260 documents per query (relevant ones ranked both within and
    beyond 100, so AP@100 and full AP differ), tied scores, doc ids of varying length,
    judged queries the run leaves out, run queries nobody judged, queries with no relevant
    document (dropped).
    """
    rng = np.random.default_rng(seed)
    n_queries, n_docs, per_query = 36, 700, 260
    docs = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(n_docs)],
            "lang": [DOC_LANGS[i % len(DOC_LANGS)] for i in range(n_docs)],
        }
    )
    by_lang = {lang: docs.filter(pl.col("lang") == lang)["doc_id"].to_numpy() for lang in DOC_LANGS}
    query_ids = [f"q{i}" for i in range(n_queries)]
    queries = pl.DataFrame(
        {"query_id": query_ids, "lang": [QUERY_LANGS[i % 3] for i in range(n_queries)]}
    )
    qrel_rows: list[tuple[str, str, int]] = []
    run_rows: list[tuple[str, str, float]] = []
    for index, query_id in enumerate(query_ids):
        languages = rng.choice(DOC_LANGS, size=1 + index % len(DOC_LANGS), replace=False)
        judged = np.concatenate([rng.choice(by_lang[lang], size=3, replace=False) for lang in languages])
        grades = rng.integers(0, 4, len(judged))
        grades[0] = 0 if index % 9 == 0 else max(grades[0], 1)
        if index % 9 == 0:
            grades[:] = 0  # nothing relevant: not evaluated
        qrel_rows += [(query_id, str(doc), int(grade)) for doc, grade in zip(judged, grades, strict=True)]
        if index % 6 == 5:
            continue  # judged, never retrieved: 0 here, left out by ir-measures
        others = rng.choice(docs["doc_id"].to_numpy(), size=per_query, replace=False)
        retrieved = np.concatenate([judged, others[~np.isin(others, judged)]])[:per_query]
        scores = rng.random(len(retrieved))
        scores[: len(judged)] = rng.choice([1.2, 0.9, 0.5, 0.02, -1.0], size=len(judged))
        if tied_scores:
            scores = np.round(scores, 1)
        else:
            # Distinct, whatever the draws, even in float32 (pytrec_eval's precision).
            scores += np.arange(len(scores)) * 1e-4
        run_rows += [(query_id, str(doc), float(score)) for doc, score in zip(retrieved, scores, strict=True)]
    run_rows += [("unjudged", "d1", 2.0), ("unjudged", "d2", 1.0)]
    qrels = pl.DataFrame(
        qrel_rows, schema={"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int64},
        orient="row",
    )  # fmt: skip
    run = pl.DataFrame(
        run_rows, schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64},
        orient="row",
    )  # fmt: skip
    return {"queries": queries, "docs": docs, "qrels": qrels, "run": run}


def measures(threshold: int) -> dict[object, str]:
    """ir-measures' measure -> our metric, for the measures that take a relevance level."""
    return {
        R(rel=threshold) @ 100: "recall@100",
        R(rel=threshold) @ 10: "recall@10",
        R(rel=threshold) @ 1: "recall@1",
        AP(rel=threshold) @ 100: "map@100",
        AP(rel=threshold): "map",
        P(rel=threshold) @ 1: "p@1",
    }


def as_qrels(frame: pl.DataFrame) -> list[ir_measures.Qrel]:
    return [ir_measures.Qrel(*row) for row in frame.select("query_id", "doc_id", "relevance").iter_rows()]


def as_run(frame: pl.DataFrame) -> list[ir_measures.ScoredDoc]:
    return [ir_measures.ScoredDoc(*row) for row in frame.select("query_id", "doc_id", "score").iter_rows()]


def reference(qrels: pl.DataFrame, run: pl.DataFrame, threshold: int) -> dict[tuple[str, str], float]:
    """(query_id, metric) -> ir-measures' value, for the queries it scores (those in the run)."""
    named = measures(threshold)
    graded, ranked = as_qrels(qrels), as_run(run)
    # nDCG takes no relevance level: judgements below the threshold must go.
    relevant_only = as_qrels(qrels.filter(pl.col("relevance") >= threshold))
    values = {(m.query_id, named[m.measure]): m.value for m in ir_measures.iter_calc(list(named), graded, ranked)}
    ndcg = {nDCG @ 10: "ndcg@10", nDCG @ 100: "ndcg@100"}
    for metric in ir_measures.iter_calc(list(ndcg), relevant_only, ranked):
        values[(metric.query_id, ndcg[metric.measure])] = metric.value
    # trec_eval's reciprocal rank (ties by doc_id descending, like ours); RR@10 cuts it.
    for metric in ir_measures.pytrec_eval.iter_calc([RR(rel=threshold)], graded, ranked):
        values[(metric.query_id, "mrr@10")] = metric.value if metric.value >= 0.1 - 1e-12 else 0.0
    return values


def judged_queries(qrels: pl.DataFrame, threshold: int) -> pl.DataFrame:
    """The qrels of the queries with a relevant document (the ones evaluate_run keeps)."""
    kept = qrels.filter(pl.col("relevance") >= threshold).select("query_id").unique()
    return qrels.join(kept, on="query_id", how="semi")


def compare(got: dict[tuple[str, str], float], expected: dict[tuple[str, str], float]) -> None:
    assert expected
    mismatches = {
        key: (got.get(key), value)
        for key, value in expected.items()
        if key not in got or not math.isclose(got[key], value, abs_tol=TOLERANCE)
    }
    assert not mismatches


@pytest.mark.parametrize("threshold", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_query_unit_is_ir_measures_per_query(seed: int, threshold: int) -> None:
    data = multilingual_collection(seed)
    per_unit = evaluate_run(data["run"], data["qrels"], data["queries"], data["docs"], threshold, QUERY)
    qrels = judged_queries(data["qrels"], threshold)
    expected = reference(qrels, data["run"], threshold)
    assert set(per_unit["metric"]) == set(METRICS)
    # One unit per query: labelled with the shared language, else "mul".
    assert per_unit.select("query_id", "doc_lang").unique().height == per_unit["query_id"].n_unique()
    assert MULTIPLE in set(per_unit["doc_lang"]) and set(per_unit["doc_lang"]) & set(DOC_LANGS)
    compare({(q, m): v for q, _, _, m, v in per_unit.iter_rows()}, expected)
    # Judged queries the run left out score 0 (ir-measures 0.4 agrees; pytrec_eval drops them).
    missing = per_unit.filter(~pl.col("query_id").is_in(data["run"]["query_id"].unique().to_list()))
    assert missing.height and (missing["value"] == 0).all()


def test_query_unit_averages_are_ir_measures_aggregates() -> None:
    """Without ties every provider agrees, RR@10 included: calc_aggregate is the mean of our
    per-query values. ir-measures (0.4) fills queries missing from the run in with 0, as we
    do; pytrec_eval on its own leaves them out, and its mean is the one over the rest."""
    data = multilingual_collection(5, tied_scores=False)
    per_unit = evaluate_run(data["run"], data["qrels"], data["queries"], data["docs"], 1, QUERY)
    means = dict(per_unit.group_by("metric").agg(pl.col("value").mean()).iter_rows())
    qrels = as_qrels(judged_queries(data["qrels"], 1))
    named = {nDCG @ 10: "ndcg@10", R @ 100: "recall@100", AP @ 100: "map@100", P @ 1: "p@1",
             R @ 1: "recall@1", RR @ 10: "mrr@10", AP: "map"}  # fmt: skip
    aggregate = ir_measures.calc_aggregate(list(named), qrels, as_run(data["run"]))
    for measure, metric in named.items():
        assert means[metric] == pytest.approx(aggregate[measure], abs=TOLERANCE), metric
    # pytrec_eval's own average: over the queries in the run only, hence higher.
    import pytrec_eval

    judged: dict[str, dict[str, int]] = {}
    for qrel in qrels:
        judged.setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
    ranked: dict[str, dict[str, float]] = {}
    for query_id, doc_id, score in data["run"].iter_rows():
        ranked.setdefault(query_id, {})[doc_id] = score
    scored = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut_10"}).evaluate(ranked)
    present = per_unit.filter(pl.col("query_id").is_in(list(scored)) & (pl.col("metric") == "ndcg@10"))
    assert len(scored) == present.height < per_unit["query_id"].n_unique()
    pytrec_mean = float(np.mean([values["ndcg_cut_10"] for values in scored.values()]))
    assert present["value"].mean() == pytest.approx(pytrec_mean, abs=TOLERANCE)
    assert pytrec_mean > means["ndcg@10"]


@pytest.mark.parametrize("threshold", [1, 2])
def test_pair_unit_is_ir_measures_on_each_document_language(threshold: int) -> None:
    data = multilingual_collection(3)
    per_unit = evaluate_run(
        data["run"], data["qrels"], data["queries"], data["docs"], threshold, QUERY_DOC_LANGUAGE
    )
    got = {(q, lang, m): v for q, _, lang, m, v in per_unit.iter_rows()}
    judged = data["qrels"].join(data["docs"].rename({"lang": "doc_lang"}), on="doc_id")
    checked = 0
    for lang in DOC_LANGS:
        # The language's judgements of the queries with a relevant document in it.
        in_lang = judged_queries(judged.filter(pl.col("doc_lang") == lang), threshold)
        expected = reference(in_lang, data["run"], threshold)
        compare({(q, m): v for (q, d, m), v in got.items() if d == lang}, expected)
        checked += len(expected)
    assert checked > len(METRICS) * 20
    # The same collection scored per query differs: the unit matters.
    per_query = evaluate_run(data["run"], data["qrels"], data["queries"], data["docs"], threshold, QUERY)
    ndcg = [frame.filter(pl.col("metric") == "ndcg@10")["value"].mean() for frame in (per_unit, per_query)]
    assert ndcg[0] != pytest.approx(ndcg[1])


def test_new_metrics_by_hand_with_ties_and_a_missing_query() -> None:
    # d3, d20, d1 tie at 1.0: trec_eval ranks them d3, d20, d1 (doc_id descending as text).
    docs = pl.DataFrame({"doc_id": ["d1", "d20", "d3", "d4", "d5"], "lang": ["en", "de", "en", "de", "en"]})
    queries = pl.DataFrame({"query_id": ["q", "gone"], "lang": ["en", "en"]})
    qrels = pl.DataFrame(
        {"query_id": ["q", "q", "q", "gone"], "doc_id": ["d1", "d4", "d5", "d1"], "relevance": [1, 1, 2, 1]}
    )
    run = pl.DataFrame(
        {"query_id": "q", "doc_id": ["d1", "d20", "d3", "d4"], "score": [1.0, 1.0, 1.0, 0.5]}
    )
    by_query = _values(evaluate_run(run, qrels, queries, docs, unit=QUERY))
    # q: relevant d1 at rank 3, d4 at rank 4, d5 never retrieved.
    assert by_query[("q", "map")] == pytest.approx((1 / 3 + 2 / 4) / 3)
    assert by_query[("q", "map@100")] == by_query[("q", "map")]  # a run of 4: nothing cut
    assert by_query[("q", "p@1")] == 0 and by_query[("q", "recall@1")] == 0
    assert all(by_query[("gone", metric)] == 0 for metric in METRICS)
    by_pair = _values(evaluate_run(run, qrels, queries, docs), with_lang=True)
    # The English unit (d1, d5): d1 is its first relevant document, at rank 3.
    assert by_pair[("q", "en", "map")] == pytest.approx((1 / 3) / 2)
    # The German unit (d4): ranked 4th; the English d1 above it is not relevant to it.
    assert by_pair[("q", "de", "map")] == pytest.approx(1 / 4)
    # Graded: at relevance 2 only d5 counts, never retrieved.
    assert _values(evaluate_run(run, qrels, queries, docs, 2, QUERY))[("q", "map")] == 0
    top = run.with_columns(score=pl.Series([3.0, 1.0, 1.0, 0.5]))
    assert _values(evaluate_run(top, qrels, queries, docs, unit=QUERY))[("q", "p@1")] == 1
    assert _values(evaluate_run(top, qrels, queries, docs, unit=QUERY))[("q", "recall@1")] == pytest.approx(1 / 3)


def test_full_ap_reads_below_100_and_map_cut_does_not() -> None:
    docs = pl.DataFrame({"doc_id": [f"d{i:03d}" for i in range(150)], "lang": "en"})
    queries = pl.DataFrame({"query_id": ["q"], "lang": ["en"]})
    qrels = pl.DataFrame({"query_id": ["q", "q"], "doc_id": ["d000", "d139"], "relevance": [1, 1]})
    run = pl.DataFrame({"query_id": "q", "doc_id": docs["doc_id"], "score": np.arange(150.0, 0, -1)})
    values = _values(evaluate_run(run, qrels, queries, docs))
    assert values[("q", "map@100")] == pytest.approx(1 / 2)
    assert values[("q", "map")] == pytest.approx((1 + 2 / 140) / 2)
    assert values[("q", "recall@100")] == pytest.approx(1 / 2)


def test_an_unknown_unit_names_the_config_key() -> None:
    data = multilingual_collection(0)
    with pytest.raises(ValueError, match="evaluation.unit: 'document'"):
        evaluate_run(data["run"], data["qrels"], data["queries"], data["docs"], unit="document")


def test_the_unit_is_configured_with_the_papers_default() -> None:
    base = {"experiment": "x", "datasets": {"cards": {"type": "cldr_cards", "languages": ["en", "de"]}},
            "bm25": {"bm25-icu": {}}, "encoders": {}}  # fmt: skip
    assert checked_config(base)["evaluation"]["unit"] == QUERY_DOC_LANGUAGE
    assert validated_settings({**base, "evaluation": {"unit": "query"}}).evaluation.unit == QUERY
    with pytest.raises(ConfigError) as raised:
        checked_config({**base, "evaluation": {"unit": "queries"}})
    assert any(problem.startswith("evaluation.unit") for problem in raised.value.problems)
    # top_k below 100 is a start-up notice naming the key and the metrics it cuts.
    study = Study(validated_settings({**base, "retrieval": {"top_k": 50}}))
    notice = [n for n in study.notices()[0] if n.startswith("retrieval.top_k")]
    assert notice and "recall@100, ndcg@100, map@100" in notice[0]
    assert depth_notices(100) == [] and depth_notices(1000) == []


def test_metrics_cut_by_the_run_depth() -> None:
    assert metric_cutoff("recall@100") == 100 and metric_cutoff("p@1") == 1
    assert metric_cutoff("map") is None
    assert cut_metrics(50, 10_000) == ["recall@100", "ndcg@100", "map@100", "map"]
    assert cut_metrics(100, 10_000) == ["map"]  # full AP needs the whole pool
    assert cut_metrics(1000, 300) == []  # the run holds the whole pool
    assert cut_metrics(50, 60) == ["recall@100", "ndcg@100", "map@100", "map"]
    assert cut_metrics(5, 8) == ["recall@100", "recall@10", "ndcg@100", "ndcg@10", "mrr@10",
                                 "map@100", "map"]  # fmt: skip


def test_run_coverage_counts_the_queries_the_run_left_empty() -> None:
    data = multilingual_collection(0)
    per_unit = evaluate_run(data["run"], data["qrels"], data["queries"], data["docs"])
    counts = run_coverage(data["run"], per_unit)
    evaluated = set(per_unit["query_id"])
    empty = evaluated - set(data["run"]["query_id"])
    assert counts["queries"] == len(evaluated) and counts["empty_run"] == len(empty) > 0
    assert counts["no_relevant_retrieved"] >= counts["empty_run"]
    assert counts["deepest"] == 260
    assert counts["units"] == per_unit.select("query_id", "doc_lang").unique().height


def _statistics(name: str, documents: int) -> DatasetStatistics:
    return DatasetStatistics(name, "local", documents, {"en": documents}, 4, {("en", "en"): 4}, 1, "test")


def _summary(unit: str = QUERY_DOC_LANGUAGE) -> pl.DataFrame:
    data = multilingual_collection(1)
    per_unit = evaluate_run(data["run"], data["qrels"], data["queries"], data["docs"], 1, unit)
    return summary_table(
        [("small", "original", system, summarise_pairs(per_unit)) for system in ("bm25", "me5")]
    )


@pytest.mark.parametrize(
    ("top_k", "cut"),
    [(50, ["R@100", "nDCG@100", "MAP@100", "MAP"]), (1000, [])],
)
def test_the_depth_note_names_the_metrics_the_run_cuts(top_k: int, cut: list[str]) -> None:
    section = evaluation_section(_summary(), {"unit": QUERY_DOC_LANGUAGE, "top_k": top_k},
                                 [_statistics("small", 700)])  # fmt: skip
    (table,) = section["tables"]
    assert table.cut == cut and table.pool == "700"
    assert [label for _, label, flag in table.metrics if flag] == cut
    page = _page(_summary(), top_k)
    assert f"<code>retrieval.top_k</code> = {top_k:,} documents per query" in page
    if cut:
        assert "<strong>small</strong> (pool of 700 documents): cut: " + ", ".join(cut) in page
    else:
        assert "<strong>small</strong> (pool of 700 documents): nothing cut" in page


def test_the_page_states_the_unit_and_shows_every_metric() -> None:
    per_pair = _page(_summary(), 100)
    assert "<strong>Evaluation unit: (query, document language) pairs</strong>" in per_pair
    assert "Evaluation unit: (query, document language) pairs, runs of 100 documents" in per_pair
    assert "trec_eval -c" in per_pair and "pytrec_eval" in per_pair
    for metric in METRICS:
        assert f'data-table="all-metrics" data-dataset="small" data-condition="original" data-system="me5" data-metric="{metric}"' in per_pair
    per_query = _page(_summary(QUERY), 100)
    assert "<strong>Evaluation unit: queries</strong> (<code>evaluation.unit: query</code>)" in per_query
    assert "Evaluation unit: queries, runs of 100" in per_query
    assert "<code>mul</code> (ISO 639: multiple languages)" in per_query


def test_mul_is_a_language_every_view_accepts() -> None:
    """The `query` unit's "mul" passes the language checks, and the heatmaps, per-language
    views and MTEB export treat it as a document language of its own."""
    assert is_known_language(MULTIPLE)
    summary = _summary(QUERY)
    assert MULTIPLE in set(summary["doc_lang"])
    section = heatmaps(summary)
    assert any(MULTIPLE in panel.columns or any(MULTIPLE in label for label in (panel.column_label, panel.row_label))
               for figure in section.figures for panel in figure.panels)  # fmt: skip
    assert per_language(summary)
    assert mteb_language(MULTIPLE) == "mul-Zyyy"


def test_mteb_names_and_no_metric_the_run_cuts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert [mteb_metric_name(m) for m in ("map@100", "p@1", "recall@1", "map", "mrr@10")] == [
        "map_at_100", "precision_at_1", "recall_at_1", "map", "mrr_at_10"
    ]  # fmt: skip
    summary = _summary()
    written = export_mteb(summary, {}, tmp_path / "cut")
    scores = _mteb_scores(written)
    assert "map_at_100" in scores and "precision_at_1" in scores and "map" not in scores
    full = _mteb_scores(export_mteb(summary, {}, tmp_path / "full", cut={"small": []}))
    assert "map" in full
    # A run of 50 over a pool of 700 cuts Recall@100, nDCG@100, MAP@100 and full AP: left out.
    shallow = _mteb_scores(
        export_mteb(summary, {}, tmp_path / "shallow", cut={"small": cut_metrics(50, 700)})
    )
    assert {"recall_at_100", "ndcg_at_100", "map_at_100", "map"}.isdisjoint(shallow)
    assert {"recall_at_10", "ndcg_at_10", "precision_at_1"} <= shallow
    entry = json.loads((tmp_path / "shallow" / "me5" / "no_revision_available"
                        / "clirbench-small-original.json").read_text())["scores"]["test"][0]  # fmt: skip
    assert entry["main_score"] == entry["ndcg_at_10"]  # Recall@100 is cut


def _mteb_scores(paths: Iterable) -> set[str]:  # type: ignore[type-arg]
    import json

    keys: set[str] = set()
    for path in paths:
        if path.name != "model_meta.json":
            for entry in json.loads(path.read_text())["scores"]["test"]:
                keys |= set(entry)
    return keys


def _page(summary: pl.DataFrame, top_k: int) -> str:
    stage_times = pl.DataFrame({"stage": ["x"], "jobs": [1], "seconds": [1.0]})
    unit = QUERY if MULTIPLE in set(summary["doc_lang"]) else QUERY_DOC_LANGUAGE
    metadata = {"config_hash": "x", "evaluation": {"unit": unit, "top_k": top_k}}
    return render_report(summary, metadata, stage_times, [], [_statistics("small", 700)])


def _values(per_unit: pl.DataFrame, with_lang: bool = False) -> dict[tuple[str, ...], float]:
    if with_lang:
        return {(q, d, m): v for q, _, d, m, v in per_unit.iter_rows()}
    return {(q, m): v for q, _, _, m, v in per_unit.iter_rows()}
