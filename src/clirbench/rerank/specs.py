"""What a re-ranker is: a cross-encoder trained on one dataset, and the runs it re-orders.

An entry of `stages.reranking.models` names a model to start from (a Hugging Face id, a
folder or a `pkg:` folder, given a one-score classification head), the kind of negatives
it trains on (`easy`: random non-relevant documents; `hard`: non-relevant documents a
first-stage system ranks high for the training query, or the dataset's own judged-but-lower
candidates), and the first-stage systems whose runs it re-orders. As in the paper, one
model is trained per (re-ranker, dataset), on that dataset's training split: the unit of
training. The unit of re-ranking is one first-stage run: its top `depth` documents per
query are scored by the cross-encoder and sorted by that score.

Each (first stage, re-ranker) is a system of its own, `<first stage>><re-ranker>`, whose
runs are evaluated and reported like any other. With `inject_relevant` the paper's variant
is a second system, `<first stage>><re-ranker>+injected`: a relevant document the first
stage missed replaces its last candidate before scoring. That lifts the scores above what
the pipeline can reach, so the plain pipeline is always run beside it and the report labels
the injected rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EASY = "easy"
HARD = "hard"
# hard_negatives_from: the dataset's own judged documents below the relevance threshold
# (CLIRMatrix's graded candidate lists), instead of a first-stage system's ranking.
JUDGED_CANDIDATES = "judged-candidates"
RERANK_SEPARATOR = ">"
INJECTED_SUFFIX = "+injected"


@dataclass(frozen=True)
class Reranker:
    """One `stages.reranking.models.<name>` entry, defaults filled in."""

    name: str
    model: str
    revision: str | None
    trust_remote_code: bool
    negatives: str
    negatives_per_positive: int
    hard_negatives_from: str | None
    first_stages: tuple[str, ...]
    datasets: tuple[str, ...]  # trained for, and re-ranking, each of these
    # Per dataset, the settings replaced to build its training queries from the collection.
    training_queries: Mapping[str, Mapping[str, Any]]

    @property
    def config_key(self) -> str:
        return f"stages.reranking.models.{self.name}"

    def as_params(self) -> dict[str, Any]:
        """What the training jobs are told about it (their params, so a change re-runs them)."""
        return {
            "name": self.name,
            "model": self.model,
            "revision": self.revision,
            "trust_remote_code": self.trust_remote_code,
            "negatives": self.negatives,
            "negatives_per_positive": self.negatives_per_positive,
            "hard_negatives_from": self.hard_negatives_from,
            "training_queries": {name: dict(v) for name, v in self.training_queries.items()},
        }


def rerankers(stage: Mapping[str, Any], datasets: list[str]) -> dict[str, Reranker]:
    """The re-rankers of an enabled `stages.reranking` (an empty mapping: none)."""
    return {
        name: Reranker(
            name=name,
            model=entry["model"],
            revision=entry.get("revision"),
            trust_remote_code=bool(entry.get("trust_remote_code", False)),
            negatives=entry["negatives"],
            negatives_per_positive=int(entry["negatives_per_positive"]),
            hard_negatives_from=entry.get("hard_negatives_from"),
            first_stages=tuple(entry["first_stages"]),
            datasets=tuple(sorted(entry.get("datasets") or datasets)),
            training_queries=dict(entry.get("training_queries") or {}),
        )
        for name, entry in sorted((stage.get("models") or {}).items())
    }


def reranked_system_name(first_stage: str, reranker: str, injected: bool) -> str:
    """`bm25-icu>ce-hard`, or `bm25-icu>ce-hard+injected` for the paper's variant
    (configured names hold neither '>' nor '+', so these never clash with them)."""
    name = f"{first_stage}{RERANK_SEPARATOR}{reranker}"
    return f"{name}{INJECTED_SUFFIX}" if injected else name


def reranking_errors(
    models: Mapping[str, Reranker],
    systems: Mapping[str, str],
    lexical: set[str],
    datasets: Mapping[str, Mapping[str, Any]],
    conditions: list[str],
    chosen_conditions: list[str] | None,
) -> list[str]:
    """Start-up errors, one per mistake, each naming its config key.

    `systems`: every first-stage system the study runs, by name, with its kind's name;
    `lexical`: the BM25 systems (hard negatives are mined with one); `datasets`: each
    dataset's settings by name.
    """
    errors = [
        f"stages.reranking.conditions: {condition!r} is not a condition any dataset searches "
        f"(conditions: {', '.join(conditions)})"
        for condition in chosen_conditions or ()
        if condition not in conditions
    ]
    for model in models.values():
        key = model.config_key
        for dataset in model.datasets:
            if dataset not in datasets:
                errors.append(f"{key}.datasets: no dataset {dataset!r}")
        for dataset, replaced in sorted(model.training_queries.items()):
            if dataset not in model.datasets:
                errors.append(f"{key}.training_queries.{dataset}: the re-ranker is not trained "
                              f"for {dataset!r} (its datasets: {', '.join(model.datasets)})")
            elif dataset in datasets and set(replaced) - set(datasets[dataset]):
                unknown = ", ".join(sorted(set(replaced) - set(datasets[dataset])))
                errors.append(f"{key}.training_queries.{dataset}: {unknown} not a setting of "
                              f"datasets.{dataset} (its settings: "
                              f"{', '.join(sorted(datasets[dataset]))})")
        for first_stage in model.first_stages:
            if first_stage not in systems:
                errors.append(
                    f"{key}.first_stages: {first_stage!r} is not a system of the study "
                    f"(systems: {', '.join(sorted(systems))})"
                )
        source = model.hard_negatives_from
        if model.negatives == HARD and source is None:
            errors.append(
                f"{key}.hard_negatives_from: hard negatives need their source: a BM25 system "
                f"({', '.join(sorted(lexical))}) or {JUDGED_CANDIDATES}"
            )
        elif model.negatives == HARD and source not in lexical | {JUDGED_CANDIDATES}:
            errors.append(
                f"{key}.hard_negatives_from: {source!r} is neither a BM25 system "
                f"({', '.join(sorted(lexical))}) nor {JUDGED_CANDIDATES}"
            )
        elif model.negatives == EASY and source is not None:
            errors.append(
                f"{key}.hard_negatives_from: set for a model trained on easy (random) "
                "negatives; remove it or set negatives: hard"
            )
    return errors
