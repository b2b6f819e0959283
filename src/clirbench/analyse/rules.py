"""Entry points of the analysis rules, one job per analysis and (dataset, condition):

- `significance`: every run's per-unit metrics of one (dataset, condition) in; the paired
  tests of each system against the best system and each BM25 baseline (a re-ranked run
  against its first stage, on the queries it re-ranked), Holm-corrected over the family,
  and every system's macro average with its bootstrap interval out.
- `language_bias`: every run of one (dataset, condition) with the documents' and queries'
  languages in; the own-language shares and, for queries whose relevant documents are in
  other languages, the retrieved languages by role and by language out.
- `language_similarity`: summary.csv in; each cross-lingual pair's lang2vec similarities,
  their Spearman correlation with each run's per-pair metric, and the feature sets'
  correlation matrix out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.analyse.bias import (
    cross_language_top,
    own_language_share,
    retrieved_language_distribution,
    retrieved_language_roles,
)
from clirbench.analyse.significance import (
    SignificanceSettings,
    compare_systems,
    macro_interval,
)
from clirbench.analyse.similarity import (
    feature_set_matrix,
    pair_similarities,
    similarity_correlations,
)
from clirbench.core.atomic import write_parquet
from clirbench.core.intermediate import read_parquet, reading
from clirbench.core.trec import read_run
from clirbench.evaluate.metrics import ALL, MULTIPLE

BEST, BASELINE, FIRST_STAGE = "best system", "BM25 baseline", "first stage"
BASE_MODEL = "base model"


def comparisons(
    macro: Mapping[str, float],
    baselines: Sequence[str],
    first_stages: Mapping[str, str],
    bases: Mapping[str, str] | None = None,
) -> list[tuple[str, str, str]]:
    """(system, reference, relation) of one family: each system against the best system of
    the full query set (highest macro average; ties: the first name) and against each
    baseline; a fine-tuned system (a key of `bases`) also against its base encoder (the
    paper's Table 4 question: did fine-tuning help?); a re-ranked system (a key of
    `first_stages`) against its first stage only."""
    full = sorted(name for name in macro if name not in first_stages)
    if not full:
        return []
    best = min(full, key=lambda name: (-macro[name], name))
    made: list[tuple[str, str, str]] = []
    for system in full:
        if system != best:
            made.append((system, best, BEST))
        # Against each baseline, unless that is itself or the best (compared just above).
        made += [(system, base, BASELINE) for base in baselines if base not in (system, best)]
        base_model = (bases or {}).get(system)
        if base_model is not None and base_model in macro and base_model not in (best, *baselines):
            made.append((system, base_model, BASE_MODEL))
    made += [
        (system, first, FIRST_STAGE)
        for system, first in sorted(first_stages.items())
        if system in macro and first in macro
    ]
    return made


def significance(
    dataset: str,
    condition: str,
    per_query_files: Mapping[str, Path],
    first_stages: Mapping[str, str],
    baselines: Sequence[str],
    metrics: Sequence[str],
    settings: SignificanceSettings,
    comparisons_out: Path,
    intervals_out: Path,
    bases: Mapping[str, str] | None = None,
) -> None:
    """Test one (dataset, condition)'s systems per metric; write the comparisons and the
    intervals. `per_query_files`: system -> its per-unit metrics; `first_stages`: re-ranked
    system -> its first stage; `baselines`: the BM25 systems among them; `bases`:
    fine-tuned system -> its base encoder."""
    values = pl.concat(
        [
            read_parquet(path).with_columns(system=pl.lit(system))
            for system, path in sorted(per_query_files.items())
        ]
    ).filter(pl.col("metric").is_in(list(metrics)))
    tested, intervals = [], []
    for metric in metrics:
        family = values.filter(pl.col("metric") == metric)
        macro = {}
        for system in sorted(per_query_files):
            units = family.filter(pl.col("system") == system)
            if units.is_empty():
                continue
            estimate, low, high = macro_interval(units, settings)
            macro[system] = estimate
            intervals.append(
                {
                    "metric": metric,
                    "system": system,
                    "value": estimate,
                    "low": low,
                    "high": high,
                    "n_units": units.height,
                    "n_pairs": units.select("query_lang", "doc_lang").n_unique(),
                }
            )
        made = comparisons(macro, [b for b in baselines if b in macro], first_stages, bases)
        # compare_systems keeps the order of the comparisons it is given.
        table = compare_systems(family, [(s, r) for s, r, _ in made], settings)
        tested.append(
            table.with_columns(
                relation=pl.Series([relation for _, _, relation in made], dtype=pl.String),
                metric=pl.lit(metric),
            )
        )
    write_parquet(
        _labelled(pl.concat(tested, how="diagonal_relaxed"), dataset, condition), comparisons_out
    )
    write_parquet(_labelled(pl.DataFrame(intervals), dataset, condition), intervals_out)


def language_bias(
    dataset: str,
    condition: str,
    run_files: Mapping[str, Path],
    docs_path: Path,
    queries_path: Path,
    qrels_path: Path,
    relevance_threshold: int,
    shares_out: Path,
    roles_out: Path,
    languages_out: Path,
    *,
    sampled: Sequence[str] = (),
    sampled_queries_path: Path | None = None,
) -> None:
    """The bias views of every run of one (dataset, condition), a `system` column each.

    The systems of `sampled` ran on a sample of the queries (re-ranked runs), listed in
    `sampled_queries_path`: they are analysed on those queries only."""
    docs = read_parquet(docs_path, columns=["doc_id", "lang"])
    queries = read_parquet(queries_path, columns=["query_id", "lang"])
    qrels = read_parquet(qrels_path)
    # Only queries with a relevant document are evaluated (evaluate.metrics drops the rest).
    judged = qrels.filter(pl.col("relevance") >= relevance_threshold).select("query_id").unique()
    queries = queries.join(judged, on="query_id", how="semi").sort("query_id")
    sample = (
        queries.join(read_parquet(sampled_queries_path, columns=["query_id"]), on="query_id", how="semi")
        if sampled_queries_path is not None
        else queries
    )
    languages = docs["lang"].unique().sort().to_list()
    shares, roles, distributions = [], [], []
    for system, path in sorted(run_files.items()):
        with reading(path):
            run = read_run(path)
        evaluated = sample if system in sampled else queries
        shares.append(
            own_language_share(run, evaluated, docs).with_columns(system=pl.lit(system))
        )
        top = cross_language_top(run, evaluated, docs, qrels, relevance_threshold)
        roles.append(
            retrieved_language_roles(top, len(languages)).with_columns(system=pl.lit(system))
        )
        distributions.append(
            retrieved_language_distribution(top, languages).with_columns(system=pl.lit(system))
        )
    for pieces, out in ((shares, shares_out), (roles, roles_out), (distributions, languages_out)):
        table = pl.concat(pieces)
        write_parquet(_labelled(table.select("system", pl.exclude("system")), dataset, condition), out)


def _labelled(table: pl.DataFrame, dataset: str, condition: str) -> pl.DataFrame:
    """`table` with dataset and condition columns first: each file says what it is about."""
    return table.select(
        pl.lit(dataset).alias("dataset"), pl.lit(condition).alias("condition"), pl.all()
    )


def language_similarity(
    summary_path: Path,
    metric: str,
    feature_sets: Sequence[str],
    similarities_out: Path,
    correlations_out: Path,
    matrix_out: Path,
) -> None:
    """lang2vec similarities of the study's cross-lingual pairs and their correlation with
    each run's per-pair `metric`."""
    with reading(summary_path):
        summary = pl.read_csv(summary_path, infer_schema=False)
    pairs = summary.filter(
        (pl.col("metric") == metric) & (pl.col("query_lang") != ALL)
        # "mul" (evaluation.unit: query, relevant documents in several languages) is no
        # language lang2vec could compare.
        & (pl.col("doc_lang") != MULTIPLE)
    ).with_columns(pl.col("value").cast(pl.Float64))
    languages = pairs.select("query_lang", "doc_lang").unique().sort("query_lang", "doc_lang")
    similarities = pair_similarities(languages.rows(), feature_sets)
    write_parquet(similarities, similarities_out)
    write_parquet(
        similarity_correlations(
            pairs.select("dataset", "condition", "system", "query_lang", "doc_lang", "value"),
            similarities,
        ),
        correlations_out,
    )
    write_parquet(feature_set_matrix(similarities), matrix_out)


def significance_settings(stage: Mapping[str, Any]) -> SignificanceSettings:
    """The typed settings of `stages.analyses.significance` (defaults filled by the schema)."""
    section = stage["significance"]
    return SignificanceSettings(
        alpha=section["alpha"],
        permutations=section["permutations"],
        bootstrap_resamples=section["bootstrap_resamples"],
        confidence=section["confidence"],
        seed=section["seed"],
    )
