"""The post-hoc analyses (issue: language bias, linguistic similarity, significance): the
bias shares on a hand-built run, lang2vec similarities of known pairs and the masking, the
tests against published values and exact enumeration, Holm on a known example, the
stratified bootstrap interval."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import logging
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from clirbench.analyse.bias import (
    OTHER_LANGUAGE,
    QUERY_LANGUAGE,
    RELEVANT_LANGUAGE,
    cross_language_top,
    own_language_share,
    retrieved_language_distribution,
    retrieved_language_roles,
)
from clirbench.analyse.rules import (
    BASE_MODEL,
    BASELINE,
    BEST,
    FIRST_STAGE,
    comparisons,
    significance,
)
from clirbench.analyse.rules import significance_settings as rules_settings
from clirbench.analyse.significance import (
    SignificanceSettings,
    compare_systems,
    holm,
    macro_interval,
    randomisation_p_value,
    t_test_p_value,
)
from clirbench.analyse.similarity import (
    feature_set_matrix,
    masked_cosine,
    pair_similarities,
    similarity_correlations,
)
from clirbench.core.config_validation import config_schema
from clirbench.core.atomic import write_parquet
from clirbench.evaluate.metrics import ALL, summarise_pairs, summary_table
from clirbench.report.page import render_report
from clirbench.report.table3 import table3

# Student's sleep data (Cushny and Peebles 1905): extra hours of sleep of 10 patients under
# two drugs. R's t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9,
# p-value = 0.002833.
SLEEP_DRUG_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_DRUG_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


# --- significance -------------------------------------------------------------


def significance_settings(**changes: float) -> SignificanceSettings:
    """The schema's defaults (stages.analyses.significance), with `changes`."""
    spec = config_schema()["$defs"]["analyses"]["properties"]["significance"]["properties"]
    section = {key: value["default"] for key, value in spec.items() if "default" in value}
    return dataclasses.replace(rules_settings({"significance": section}), **changes)


def test_holm_on_the_textbook_example() -> None:
    # Four p-values at alpha 0.05: sorted 0.005, 0.01, 0.03, 0.04 are compared with 0.05/4,
    # 0.05/3, 0.05/2, 0.05/1; the third fails, so it and the fourth are kept.
    adjusted, significant = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert significant == [True, False, False, True]
    assert holm([], alpha=0.05) == ([], [])


def test_paired_t_test_matches_the_published_value() -> None:
    assert t_test_p_value(SLEEP_DRUG_1, SLEEP_DRUG_2) == pytest.approx(0.002833, abs=5e-6)
    assert t_test_p_value(SLEEP_DRUG_1, SLEEP_DRUG_1) == 1.0
    assert t_test_p_value(SLEEP_DRUG_1 + 0.5, SLEEP_DRUG_1) == 0.0  # always 0.5 better


def test_randomisation_test_is_exact_on_few_units() -> None:
    # 10 units: 2**10 sign assignments, fewer than the resamples, so scipy enumerates them
    # all; the p-value is then the share of assignments with |difference| >= the observed.
    weights = np.full(10, 1 / 10)
    differences = SLEEP_DRUG_1 - SLEEP_DRUG_2
    observed = abs(np.sum(differences * weights))
    flips = np.array(list(itertools.product([1, -1], repeat=10)))
    exact = np.mean(np.abs(flips @ (differences * weights)) >= observed - 1e-12)
    settings = significance_settings(permutations=5000)
    assert randomisation_p_value(SLEEP_DRUG_1, SLEEP_DRUG_2, weights, settings) == pytest.approx(
        exact
    )
    assert randomisation_p_value(SLEEP_DRUG_1, SLEEP_DRUG_1, weights, settings) == 1.0


def unit_values() -> pl.DataFrame:
    """Three systems on 4 language pairs of unequal sizes (3, 5, 8, 12 queries): B beats A on
    every unit, C equals A except on one unit."""
    rng = np.random.default_rng(7)
    rows = []
    for (query_lang, doc_lang), size in zip(
        [("de", "en"), ("de", "ja"), ("en", "ja"), ("ja", "en")], [3, 5, 8, 12], strict=True
    ):
        for i in range(size):
            base = float(rng.uniform(0.0, 0.6))
            unit = {"query_id": f"{query_lang}-{doc_lang}-{i}", "query_lang": query_lang,
                    "doc_lang": doc_lang}
            rows.append({**unit, "system": "A", "value": base})
            rows.append({**unit, "system": "B", "value": base + 0.3})
            rows.append({**unit, "system": "C", "value": base + (0.01 if i == 0 else 0.0)})
    return pl.DataFrame(rows)


def test_compared_means_are_the_macro_averages_the_tables_show() -> None:
    values = unit_values()
    table = compare_systems(values, [("A", "B"), ("C", "A")], significance_settings(permutations=2000))
    macro = {
        system: summarise_pairs(
            values.filter(pl.col("system") == system)
            .drop("system")
            .with_columns(metric=pl.lit("recall@100"))
        )
        .filter(pl.col("query_lang") == "all")["value"]
        .item()
        for system in ("A", "B", "C")
    }
    first = table.row(0, named=True)
    assert first["system_mean"] == pytest.approx(macro["A"])
    assert first["reference_mean"] == pytest.approx(macro["B"])
    assert first["difference"] == pytest.approx(macro["A"] - macro["B"])
    assert (first["n_units"], first["n_pairs"]) == (28, 4)
    # B is better on every unit: significant under both tests, after Holm.
    assert first["significant"] and first["significant_t_test"]
    # C differs on one unit by 0.01: not significant.
    second = table.row(1, named=True)
    assert not second["significant"]
    assert second["p_randomisation_holm"] >= second["p_randomisation"]


def test_comparisons_pair_only_shared_units() -> None:
    values = unit_values()
    sample = values.filter((pl.col("system") != "B") | pl.col("query_id").str.ends_with("-0"))
    row = compare_systems(sample, [("A", "B")], significance_settings(permutations=500)).row(0, named=True)
    assert (row["n_units"], row["n_pairs"]) == (4, 4)
    with pytest.raises(ValueError, match="share no evaluated unit"):
        compare_systems(values.filter(pl.col("system") != "B"), [("A", "B")], significance_settings())


def test_bootstrap_interval_is_stratified_and_reproducible() -> None:
    values = unit_values().filter(pl.col("system") == "A").drop("system")
    settings = significance_settings(bootstrap_resamples=1000)
    estimate, low, high = macro_interval(values, settings)
    assert low < estimate < high
    assert macro_interval(values, settings) == (estimate, low, high)
    # Stratified: a pair whose units all score the same contributes no spread, so one pair
    # of constants gives a degenerate interval.
    constant = pl.DataFrame(
        {"query_id": ["q1", "q2"], "query_lang": ["de", "de"], "doc_lang": ["en", "en"],
         "value": [0.5, 0.5]}
    )
    assert macro_interval(constant, settings) == (0.5, 0.5, 0.5)
    # A pair of a single unit (a re-ranked sample) adds its value to every resample.
    single = pl.DataFrame(
        {"query_id": ["q9"], "query_lang": ["fi"], "doc_lang": ["ja"], "value": [1.0]}
    )
    with_single = macro_interval(pl.concat([values, single]), settings)
    pairs = values.select("query_lang", "doc_lang").n_unique()
    assert with_single == pytest.approx(
        tuple((pairs * bound + 1.0) / (pairs + 1) for bound in (estimate, low, high))
    )
    # More queries of the same spread: a narrower interval.
    doubled = pl.concat(
        [values, values.with_columns(pl.col("query_id") + "-again")]
    )
    _, low2, high2 = macro_interval(doubled, settings)
    assert high2 - low2 < high - low


# --- language bias ------------------------------------------------------------


def bias_case() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """4 languages, 2 documents each; two German queries whose relevant document is English,
    one English query whose relevant document is English."""
    docs = pl.DataFrame(
        {"doc_id": [f"{lang}{i}" for lang in ("de", "en", "ja", "ru") for i in (1, 2)],
         "lang": [lang for lang in ("de", "en", "ja", "ru") for _ in (1, 2)]}
    )
    queries = pl.DataFrame(
        {"query_id": ["q1", "q2", "q3"], "lang": ["de", "de", "en"]}
    )
    qrels = pl.DataFrame(
        {"query_id": ["q1", "q2", "q3"], "doc_id": ["en1", "en2", "en1"], "relevance": [1, 1, 1]}
    )
    run = pl.DataFrame(
        {
            # q1: de, de, en, ja; q2: en, ru (two retrieved); q3: nothing retrieved.
            "query_id": ["q1"] * 4 + ["q2"] * 2,
            "doc_id": ["de1", "de2", "en1", "ja1", "en2", "ru1"],
            "rank": [1, 2, 3, 4, 1, 2],
            "score": [4.0, 3.0, 2.0, 1.0, 2.0, 1.0],
        },
        schema_overrides={"rank": pl.Int32},
    )
    return run, queries, docs, qrels


def test_own_language_share_on_a_hand_built_run() -> None:
    run, queries, docs, _ = bias_case()
    table = own_language_share(run, queries, docs)
    share = {(row["depth"], row["query_lang"]): row["share"] for row in table.iter_rows(named=True)}
    # Top 1: q1 German (1), q2 English (0), q3 nothing (0).
    assert share[(1, "de")] == pytest.approx(0.5)
    assert share[(1, "en")] == 0.0
    assert share[(1, "all")] == pytest.approx(1 / 3)
    # Top 10: q1 2 of 4, q2 0 of 2, q3 0.
    assert share[(10, "de")] == pytest.approx(0.25)
    assert share[(10, "all")] == pytest.approx(0.5 / 3)
    assert table.filter(pl.col("query_lang") == "all")["n_queries"].to_list() == [3, 3]


def test_retrieved_languages_when_the_relevant_document_is_elsewhere() -> None:
    run, queries, docs, qrels = bias_case()
    # q4: German, relevant document in English, nothing retrieved: left out of the shares.
    queries = pl.concat([queries, pl.DataFrame({"query_id": ["q4"], "lang": ["de"]})])
    qrels = pl.concat(
        [qrels, pl.DataFrame({"query_id": ["q4"], "doc_id": ["en1"], "relevance": [1]})],
        how="vertical_relaxed",
    )
    top = cross_language_top(run, queries, docs, qrels, relevance_threshold=1)
    roles = retrieved_language_roles(top, pool_languages=4)
    by_role = {row["role"]: row for row in roles.iter_rows(named=True)}
    # Only q1 and q2 (German queries, English relevant documents) count.
    assert by_role[QUERY_LANGUAGE]["n_queries"] == 2
    assert roles["share"].sum() == pytest.approx(1.0)
    # q1: 2 German, 1 English, 1 Japanese of 4; q2: 1 English, 1 Russian of 2.
    assert by_role[QUERY_LANGUAGE]["share"] == pytest.approx((2 / 4 + 0) / 2)
    assert by_role[RELEVANT_LANGUAGE]["share"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert by_role[OTHER_LANGUAGE]["share"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    # Uniform over 4 languages: 1 query language, 1 relevant, 2 others.
    assert [by_role[role]["uniform_share"] for role in (QUERY_LANGUAGE, RELEVANT_LANGUAGE,
                                                         OTHER_LANGUAGE)] == [0.25, 0.25, 0.5]
    distribution = retrieved_language_distribution(top, ["de", "en", "ja", "ru"])
    assert distribution["retrieved_lang"].to_list() == ["de", "en", "ja", "ru"]
    assert distribution["share"].to_list() == pytest.approx([0.25, 0.375, 0.125, 0.25])
    assert distribution["share"].sum() == pytest.approx(1.0)


# --- linguistic similarity ----------------------------------------------------


def test_masked_cosine_uses_shared_features_only() -> None:
    first = np.array([1.0, 0.0, np.nan, 1.0])
    second = np.array([1.0, np.nan, 1.0, 1.0])
    assert masked_cosine(first, second) == (pytest.approx(1.0), 2)
    assert masked_cosine(np.array([np.nan, 1.0]), np.array([1.0, np.nan]))[1] == 0
    assert np.isnan(masked_cosine(np.array([np.nan, 1.0]), np.array([1.0, np.nan]))[0])


@pytest.fixture(scope="module")
def similarities() -> pl.DataFrame:
    languages = ["de", "en", "ja", "zh", "xx"]
    return pair_similarities(list(itertools.product(languages, languages)))


def test_lang2vec_similarity_of_known_pairs(similarities: pl.DataFrame) -> None:
    def similarity(query: str, doc: str, feature_set: str) -> float:
        return similarities.filter(
            (pl.col("query_lang") == query)
            & (pl.col("doc_lang") == doc)
            & (pl.col("feature_set") == feature_set)
        )["similarity"].item()

    # English and German: neighbours, both Germanic; Japanese shares neither.
    assert similarity("en", "de", "geo") > similarity("en", "ja", "geo")
    assert similarity("en", "de", "fam") > 0.0
    assert similarity("en", "ja", "fam") == 0.0
    assert similarity("en", "de", "syntax_average") > similarity("en", "ja", "syntax_average")
    # Symmetric, and no same-language pairs.
    assert similarity("de", "en", "geo") == pytest.approx(similarity("en", "de", "geo"))
    assert similarities.filter(pl.col("query_lang") == pl.col("doc_lang")).is_empty()
    # Syntax: URIEL lacks some of German's and Japanese's features; the masked cosine
    # counts only the shared ones.
    counts = similarities.filter(pl.col("feature_set") == "syntax_average")["n_features"]
    assert counts.min() < 103


def test_unknown_language_is_named_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clirbench"):
        table = pair_similarities([("en", "xx"), ("en", "de")], feature_sets=["geo"])
    assert "xx" in caplog.text and "leaves out the 1 language pairs" in caplog.text
    assert table.select("query_lang", "doc_lang").rows() == [("en", "de")]


def test_spearman_against_scipy(similarities: pl.DataFrame) -> None:
    geo = similarities.filter(pl.col("feature_set") == "geo")
    metrics = geo.select(
        "query_lang",
        "doc_lang",
        dataset=pl.lit("d"),
        condition=pl.lit("original"),
        system=pl.lit("s"),
        value=pl.col("similarity") * 0.5 + pl.int_range(pl.len()) * 0.01,
    )
    row = similarity_correlations(metrics, similarities).filter(
        pl.col("feature_set") == "geo"
    ).row(0, named=True)
    expected = stats.spearmanr(geo["similarity"].to_numpy(), metrics["value"].to_numpy())
    assert row["rho"] == pytest.approx(expected.statistic)
    assert row["p_value"] == pytest.approx(expected.pvalue)
    assert row["n_pairs"] == geo.height == 12  # de, en, ja, zh: 4 x 3 ordered pairs
    matrix = feature_set_matrix(similarities)
    assert matrix["feature_set"].to_list() == matrix.columns[1:]
    assert np.allclose(np.diag(matrix.drop("feature_set").to_numpy()), 1.0)


def test_each_system_is_compared_with_the_best_and_the_baselines() -> None:
    macro = {"bm25": 0.2, "dense": 0.8, "other": 0.5, "bm25>ce": 0.3}
    made = comparisons(macro, ["bm25"], {"bm25>ce": "bm25"})
    assert made == [
        ("bm25", "dense", BEST),
        ("dense", "bm25", BASELINE),
        ("other", "dense", BEST),
        ("other", "bm25", BASELINE),
        # A re-ranked system (on a sample of the queries) only against its first stage.
        ("bm25>ce", "bm25", FIRST_STAGE),
    ]
    # Ties: the first name wins, so the plan is the same on every run.
    assert comparisons({"b": 0.5, "a": 0.5}, [], {}) == [("b", "a", BEST)]


def test_a_fine_tuned_system_is_also_compared_with_its_base() -> None:
    macro = {"bm25": 0.2, "minilm": 0.4, "minilm-qd": 0.6, "me5": 0.8}
    made = comparisons(macro, ["bm25"], {}, {"minilm-qd": "minilm"})
    assert ("minilm-qd", "minilm", BASE_MODEL) in made
    assert ("minilm-qd", "me5", BEST) in made
    # A base that is the best is compared once, as the best.
    best_base = comparisons({"minilm": 0.9, "minilm-qd": 0.6}, [], {}, {"minilm-qd": "minilm"})
    assert best_base == [("minilm-qd", "minilm", BEST)]


def test_table3_bolds_the_best_of_the_systems_scored_on_every_query() -> None:
    """A re-ranked run scored on a sample (1.000 on a few queries) is not the column's best."""
    summary = pl.DataFrame(
        {
            "dataset": ["d"] * 3, "condition": ["original"] * 3,
            "system": ["bm25", "dense", "bm25>ce"],
            "query_lang": [ALL] * 3, "doc_lang": [ALL] * 3,
            "metric": ["recall@100"] * 3, "value": [0.4, 0.8, 1.0],
        }
    )  # fmt: skip
    bold = {
        system: cells[0].best for system, cells in table3(summary, sampled={"bm25>ce"})["rows"]
    }
    assert bold == {"bm25": False, "dense": True, "bm25>ce": False}
    everyone = {system: cells[0].best for system, cells in table3(summary)["rows"]}
    assert everyone == {"bm25": False, "dense": False, "bm25>ce": True}


# --- the report ---------------------------------------------------------------


def test_report_shows_intervals_counts_and_marks(tmp_path: Path) -> None:
    """The significance entry point on per-unit files, then the page: Table 3 carries each
    tested value's interval, the unit count of a system scored on a sample, and the mark of
    a value not significantly different from the best; the significance table lists them."""
    values = unit_values()
    # D: scored on two of the units only (as a re-ranked sample is).
    sample = values.filter((pl.col("system") == "B") & pl.col("query_id").str.ends_with("-0"))
    # E: B but 0.01 lower on one unit, not significantly different from the best (B).
    close = values.filter(pl.col("system") == "B").with_columns(
        system=pl.lit("E"),
        value=pl.when(pl.col("query_id") == "de-en-0").then(pl.col("value") - 0.01)
        .otherwise(pl.col("value")),
    )
    values = pl.concat([values, sample.with_columns(system=pl.lit("D")), close])
    files = {}
    for system in ("A", "B", "C", "D", "E"):
        per_unit = values.filter(pl.col("system") == system).drop("system")
        files[system] = tmp_path / f"{system}.per_query.parquet"
        write_parquet(per_unit.with_columns(metric=pl.lit("recall@100")), files[system])
    settings = significance_settings(permutations=500, bootstrap_resamples=200)
    significance(
        "d", "original", files, {"D": "B"}, ["A"], ["recall@100"], settings,
        tmp_path / "significance.parquet", tmp_path / "intervals.parquet",
    )  # fmt: skip
    tested = pl.read_parquet(tmp_path / "significance.parquet")
    # B is best; A and C (within 0.01 of A) are far below it, D is B on a sample.
    assert set(tested["relation"]) == {BEST, BASELINE, FIRST_STAGE}
    relation = pl.col("system") == "C", pl.col("reference") == "A"
    assert tested.filter(*relation)["significant"].item() is False
    summary = summary_table(
        (
            "d",
            "original",
            system,
            summarise_pairs(
                pl.read_parquet(path).filter(pl.col("metric") == "recall@100")
            ),
        )
        for system, path in files.items()
    )
    analyses = {
        "significance": tested,
        "intervals": pl.read_parquet(tmp_path / "intervals.parquet"),
        "own_language": None, "roles": None, "correlations": None, "feature_sets": None,
        "settings": dataclasses.asdict(settings),
    }  # fmt: skip
    page = render_report(
        summary, {"date": "2026-11-22"}, pl.DataFrame({"stage": [], "jobs": [], "seconds": []}),
        [], analyses=analyses,
    )  # fmt: skip
    intervals = pl.read_parquet(tmp_path / "intervals.parquet")
    a = intervals.filter(pl.col("system") == "A").row(0, named=True)
    cell = re.search(r'data-system="A" data-metric="recall@100">(.*?)</td>', page).group(1)
    assert f"{a['low']:.3f}–{a['high']:.3f}" in cell
    d_cell = re.search(r'data-system="D" data-metric="recall@100">(.*?)</td>', page).group(1)
    assert "4 units" in d_cell  # one unit in each of the 4 pairs, where the others have 28
    e_cell = re.search(r'data-system="E" data-metric="recall@100">(.*?)</td>', page).group(1)
    assert "≈" in e_cell and "≈" not in cell
    assert 'id="significance"' in page
    assert 'data-system="E" data-reference="B"' in page


def test_figure_6_sets_fine_tuned_encoders_beside_their_base() -> None:
    from clirbench.report.analyses import fine_tuning_bias_figure

    rows = [
        ("d", "original", system, 10, lang, share, 5)
        for system, shares in (("minilm", (0.9, 0.8)), ("minilm-qd", (0.4, 0.3)), ("bm25", (1.0, 1.0)))
        for lang, share in zip(("de", "ja"), shares, strict=True)
    ]
    own = pl.DataFrame(
        rows,
        schema=["dataset", "condition", "system", "depth", "query_lang", "share", "n_queries"],
        orient="row",
    )
    png = base64.b64decode(fine_tuning_bias_figure(own, {"minilm-qd": "minilm"}) or "")
    assert png.startswith(b"\x89PNG")
    # No fine-tuned system among the runs (or its base missing): no figure.
    assert fine_tuning_bias_figure(own, {"other-qd": "other"}) is None
    assert fine_tuning_bias_figure(own.filter(pl.col("system") != "minilm"), {"minilm-qd": "minilm"}) is None
