"""Does retrieval work better between similar languages? (the paper's Table 8)

The unit of work is the study's set of cross-lingual language pairs: each pair's
similarity under each lang2vec feature set (URIEL: geography, syntax, phonology, phoneme
inventory, language family), then, for each (dataset, condition, system), the Spearman
correlation between those similarities and the system's per-pair Recall@100.

- A language's vector is lang2vec's, looked up by its ISO 639-3 code (two-letter codes go
  through lang2vec's own table). URIEL marks a value it does not know as missing ("--");
  the cosine of two languages uses only the features both have (masked), and is left out
  (NaN, with the count of shared features 0) when they share none.
- A language lang2vec does not know is named in a warning and left out of every pair it
  is in, never silently given a vector.
- Same-language pairs are left out: they are not cross-lingual, and their similarity of 1
  would set the correlation by itself.
- Spearman's rho and its p-value come from `scipy.stats.spearmanr`, with the number of
  pairs beside them: a correlation over 5 pairs says little whatever its p-value.

lang2vec reads its data with pkg_resources, hence `setuptools<81` in the environment.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from importlib import resources

import numpy as np
import polars as pl
from scipy import stats

from clirbench.analyse.feature_sets import FEATURE_SETS

log = logging.getLogger("clirbench")



def _lang2vec():  # type: ignore[no-untyped-def]
    """lang2vec's module; imported on use (it loads URIEL's tables), its pkg_resources
    deprecation warning silenced (the pin to setuptools<81 is deliberate)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import lang2vec.lang2vec as l2v
    return l2v


def uriel_code(language: str) -> str:
    """lang2vec's ISO 639-3 code of a study language code (zh-Hans, pt-BR: the language)."""
    base = language.split("-")[0].lower()
    return str(_lang2vec().LETTER_CODES.get(base, base))


def language_vectors(
    languages: Iterable[str], feature_set: str
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each language's vector of one feature set (NaN where URIEL has no value), and the
    languages the feature set's table does not have."""
    l2v = _lang2vec()
    # The table get_features reads (lang2vec raises on a language it lacks, naming one).
    table_file = resources.files("lang2vec") / "data" / l2v.FEATURE_SETS_DICT[feature_set][0]
    with resources.as_file(table_file) as path, np.load(path) as database:
        in_table = {str(code) for code in database["langs"]}
    codes = {language: uriel_code(language) for language in sorted(set(languages))}
    found = {language: code for language, code in codes.items() if code in in_table}
    missing = [language for language in codes if language not in found]
    if not found:
        return {}, missing
    uriel = sorted(set(found.values()))
    table = l2v.get_features(uriel, feature_set)
    vectors = {
        code: np.array([np.nan if value == "--" else float(value) for value in table[code]])
        for code in uriel
    }
    return {language: vectors[code] for language, code in found.items()}, missing


def masked_cosine(first: np.ndarray, second: np.ndarray) -> tuple[float, int]:
    """Cosine similarity over the features both vectors have, and how many there are."""
    shared = ~(np.isnan(first) | np.isnan(second))
    count = int(shared.sum())
    a, b = first[shared], second[shared]
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if count == 0 or norms == 0.0:
        return float("nan"), count
    return float(np.dot(a, b) / norms), count


def pair_similarities(
    pairs: Sequence[tuple[str, str]], feature_sets: Sequence[str] = tuple(FEATURE_SETS)
) -> pl.DataFrame:
    """query_lang, doc_lang, feature_set, similarity, n_features for each cross-lingual pair
    of `pairs` whose two languages lang2vec knows (the others are named in a warning)."""
    cross = sorted({(query, doc) for query, doc in pairs if query != doc})
    languages = {language for pair in cross for language in pair}
    rows = []
    for feature_set in feature_sets:
        vectors, missing = language_vectors(languages, feature_set)
        if missing:
            log.warning(
                "lang2vec's %s features do not cover %s: the language similarity analysis "
                "leaves out the %d language pairs with %s for them",
                feature_set,
                ", ".join(missing),
                sum(1 for pair in cross if set(pair) & set(missing)),
                "it" if len(missing) == 1 else "them",
            )
        for query, doc in cross:
            if query in vectors and doc in vectors:
                similarity, count = masked_cosine(vectors[query], vectors[doc])
                rows.append((query, doc, feature_set, similarity, count))
    return pl.DataFrame(
        rows,
        schema={
            "query_lang": pl.String,
            "doc_lang": pl.String,
            "feature_set": pl.String,
            "similarity": pl.Float64,
            "n_features": pl.Int64,
        },
        orient="row",
    )


def similarity_correlations(
    pair_metrics: pl.DataFrame, similarities: pl.DataFrame
) -> pl.DataFrame:
    """Spearman's rho between each feature set's similarity and each system's metric.

    `pair_metrics`: dataset, condition, system, query_lang, doc_lang, value (one metric, no
    macro rows). One row per (dataset, condition, system, feature_set): rho, p_value,
    n_pairs (the pairs with both a value and a similarity). Fewer than 3 pairs, or a
    constant column, give NaN (no correlation to speak of).
    """
    joined = pair_metrics.join(
        similarities.drop_nans("similarity"), on=["query_lang", "doc_lang"], how="inner"
    ).sort("dataset", "condition", "system", "feature_set", "query_lang", "doc_lang")
    rows = []
    for (dataset, condition, system, feature_set), group in joined.group_by(
        ["dataset", "condition", "system", "feature_set"], maintain_order=True
    ):
        x, y = group["similarity"].to_numpy(), group["value"].to_numpy()
        if group.height < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            rho, p_value = float("nan"), float("nan")
        else:
            result = stats.spearmanr(x, y)
            rho, p_value = float(result.statistic), float(result.pvalue)
        rows.append((dataset, condition, system, feature_set, rho, p_value, group.height))
    return pl.DataFrame(
        rows,
        schema={
            "dataset": pl.String,
            "condition": pl.String,
            "system": pl.String,
            "feature_set": pl.String,
            "rho": pl.Float64,
            "p_value": pl.Float64,
            "n_pairs": pl.Int64,
        },
        orient="row",
    )


def feature_set_matrix(similarities: pl.DataFrame) -> pl.DataFrame:
    """Spearman correlation between the feature sets' similarities over the pairs all of
    them cover: feature_set, then one column per feature set."""
    wide = (
        similarities.drop_nans("similarity")
        .pivot(on="feature_set", index=["query_lang", "doc_lang"], values="similarity")
        .drop_nulls()
        .sort("query_lang", "doc_lang")
    )
    names = [column for column in wide.columns if column not in ("query_lang", "doc_lang")]
    if wide.height < 3 or len(names) < 2:
        matrix = np.full((len(names), len(names)), np.nan)
    else:
        matrix = np.atleast_2d(stats.spearmanr(wide.select(names).to_numpy()).statistic)
    return pl.DataFrame({"feature_set": names}).with_columns(
        [pl.Series(name, matrix[:, i]) for i, name in enumerate(names)]
    )
