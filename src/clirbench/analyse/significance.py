"""Whether a difference between two systems is real: paired tests, Holm-corrected, and
bootstrap intervals on the macro averages the report compares.

The unit of work is one family of comparisons: one (dataset, condition, metric), every
system's per-unit values (an evaluation unit is a (query, document language) pair of
`clirbench.evaluate.metrics`). With 10-23 queries per language pair in the demo, 1.000
against 0.800 can be three queries; a reader needs to know which differences survive.

- Each compared system is paired with its reference (the family's best system, and each
  BM25 baseline) on the units both were evaluated on (a re-ranked run scores a sample of
  the queries: it is paired on those).
- The paired randomisation test (`scipy.stats.permutation_test`, permutations within
  pairs) uses the very difference the tables show: the macro average over language pairs
  (every pair weighs the same, each of its units 1/(pairs x its units)), as a sign-flip
  test on the units whose values differ. The paired t-test
  (`scipy.stats.ttest_rel`) is the per-unit one IR toolkits report (ranx, trec_eval
  users). A unit where both systems score the same adds nothing to either.
- Holm's step-down correction (`statsmodels.stats.multitest.multipletests`) over every
  comparison of the family, separately for each test, bounds the chance of any false
  "significant" in that table at `alpha`.
- The macro average's 95% interval: `scipy.stats.bootstrap`, units resampled within their
  language pair (a stratified bootstrap: each pair keeps its number of queries), percentile
  method, a fixed seed so two runs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats
from statsmodels.stats.multitest import multipletests

PAIR_KEYS = ["query_lang", "doc_lang"]
UNIT_KEYS = ["query_id", *PAIR_KEYS]


@dataclass(frozen=True)
class SignificanceSettings:
    """How the tests run (`stages.analyses.significance`; the schema holds the defaults)."""

    alpha: float
    permutations: int  # resamples of the randomisation test
    bootstrap_resamples: int
    confidence: float
    seed: int


def macro_weights(units: pl.DataFrame) -> np.ndarray:
    """Each unit's weight in the macro average over language pairs: 1/(pairs x units of its pair)."""
    counts = units.select(pl.len().over(PAIR_KEYS).alias("n"))["n"].to_numpy()
    pairs = units.select(PAIR_KEYS).n_unique()
    return 1.0 / (pairs * counts.astype(np.float64))


def paired_units(values: pl.DataFrame, system: str, reference: str) -> pl.DataFrame:
    """The units both systems were evaluated on, sorted: query_id, query_lang, doc_lang,
    value (of `system`), reference (the reference's value)."""
    own = values.filter(pl.col("system") == system).select(*UNIT_KEYS, "value")
    other = values.filter(pl.col("system") == reference).select(
        *UNIT_KEYS, pl.col("value").alias("reference")
    )
    return own.join(other, on=UNIT_KEYS, how="inner").sort(UNIT_KEYS)


def randomisation_p_value(
    system: np.ndarray, reference: np.ndarray, weights: np.ndarray, settings: SignificanceSettings
) -> float:
    """Two-sided p-value of the weighted mean difference under random swaps within pairs.

    Swapping a unit's two values flips the sign of its weighted difference, so this is
    scipy's one-sample sign-flip test on the differences. Units with no difference are left
    out: their term is 0 under every swap, so the p-value is the same, and with few
    differing units scipy enumerates every assignment (an exact test)."""
    differences = (system - reference) * weights
    differing = differences[differences != 0]
    if differing.size < 2:
        # Nothing differs, or one unit: its two signs give |difference| alike, p = 1.
        return 1.0

    def total(weighted: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(weighted, axis=axis)

    result = stats.permutation_test(
        (differing,),
        total,
        permutation_type="samples",
        vectorized=True,
        n_resamples=settings.permutations,
        alternative="two-sided",
        rng=np.random.default_rng(settings.seed),
    )
    return float(result.pvalue)


def t_test_p_value(system: np.ndarray, reference: np.ndarray) -> float:
    """Two-sided paired t-test over units; 1.0 when the two never differ (t undefined)."""
    if np.array_equal(system, reference):
        return 1.0
    differences = system - reference
    if np.all(differences == differences[0]):
        # A constant non-zero difference: t is infinite, the difference certain.
        return 0.0
    return float(stats.ttest_rel(system, reference).pvalue)


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[float], list[bool]]:
    """Holm-adjusted p-values and which comparisons are significant at `alpha`."""
    if not p_values:
        return [], []
    reject, adjusted, _, _ = multipletests(list(p_values), alpha=alpha, method="holm")
    return [float(p) for p in adjusted], [bool(r) for r in reject]


def compare_systems(
    values: pl.DataFrame,
    comparisons: Sequence[tuple[str, str]],
    settings: SignificanceSettings,
) -> pl.DataFrame:
    """Test each (system, reference) of one family on its paired units.

    `values`: system, query_id, query_lang, doc_lang, value (one metric of one dataset and
    condition). One row per comparison: system, reference, n_units, n_pairs, mean (macro
    average of each on the shared units) and difference, both tests' raw and Holm-adjusted
    p-values, and `significant` (the randomisation test after Holm, at `alpha`).
    """
    rows = []
    for system, reference in comparisons:
        units = paired_units(values, system, reference)
        if units.is_empty():
            raise ValueError(f"{system} and {reference} share no evaluated unit")
        own = units["value"].to_numpy()
        other = units["reference"].to_numpy()
        weights = macro_weights(units)
        rows.append(
            {
                "system": system,
                "reference": reference,
                "n_units": units.height,
                "n_pairs": units.select(PAIR_KEYS).n_unique(),
                "system_mean": float(np.sum(own * weights)),
                "reference_mean": float(np.sum(other * weights)),
                "difference": float(np.sum((own - other) * weights)),
                "p_randomisation": randomisation_p_value(own, other, weights, settings),
                "p_t_test": t_test_p_value(own, other),
            }
        )
    table = pl.DataFrame(rows, schema=_COMPARISON_SCHEMA)
    for test in ("randomisation", "t_test"):
        adjusted, reject = holm(table[f"p_{test}"].to_list(), settings.alpha)
        table = table.with_columns(
            pl.Series(f"p_{test}_holm", adjusted, dtype=pl.Float64),
            pl.Series(f"significant_{test}", reject, dtype=pl.Boolean),
        )
    return table.with_columns(significant=pl.col("significant_randomisation"))


_COMPARISON_SCHEMA = {
    "system": pl.String,
    "reference": pl.String,
    "n_units": pl.Int64,
    "n_pairs": pl.Int64,
    "system_mean": pl.Float64,
    "reference_mean": pl.Float64,
    "difference": pl.Float64,
    "p_randomisation": pl.Float64,
    "p_t_test": pl.Float64,
}


def macro_interval(units: pl.DataFrame, settings: SignificanceSettings) -> tuple[float, float, float]:
    """The macro average over language pairs of `units` (query_lang, doc_lang, value) and its
    bootstrap interval, units resampled within their pair."""
    samples = [
        group["value"].to_numpy().astype(np.float64)
        for _, group in units.sort(UNIT_KEYS).group_by(PAIR_KEYS, maintain_order=True)
    ]
    estimate = float(np.mean([sample.mean() for sample in samples]))
    # A pair of one unit, or of units that all score the same, has the same mean in every
    # resample (and scipy resamples only samples of two or more): a constant term.
    varies = [sample.size > 1 and np.ptp(sample) > 0 for sample in samples]
    varying = [sample for sample, flag in zip(samples, varies, strict=True) if flag]
    constant = sum(float(s.mean()) for s, flag in zip(samples, varies, strict=True) if not flag)
    if not varying:
        return estimate, estimate, estimate  # nothing varies: every resample is the same

    def macro_average(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        varying_sum = np.sum([sample.mean(axis=axis) for sample in resampled], axis=0)
        return (varying_sum + constant) / len(samples)

    result = stats.bootstrap(
        varying,
        macro_average,
        n_resamples=settings.bootstrap_resamples,
        confidence_level=settings.confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(settings.seed),
    )
    interval = result.confidence_interval
    return estimate, float(interval.low), float(interval.high)
