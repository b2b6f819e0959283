"""The study's configuration, read once into typed settings.

The workflow config is validated against `config.schema.yaml` (beside this module), which
also fills in every default: defaults live in the schema and nowhere else
(`clirbench.core.config_validation`). `StudySettings` is what the rest of the code reads;
rules pass each job only the part it needs, as canonical JSON, so equal settings give equal
params and no false re-runs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clirbench.core.config_validation import checked_config, config_schema

# Dataset types whose source has the English parallel of every document: their reference
# English is a condition without machine translation.
REFERENCE_ENGLISH_TYPES = frozenset({"cldr_cards", "xquad", "mmarco", "tatoeba"})
# A `local` collection's files: data-model table -> config key (its English version is the
# user's `translated_docs`).
LOCAL_FILE_KEYS = {
    "docs": "docs",
    "queries": "queries",
    "qrels": "qrels",
    "reference_english": "translated_docs",
    "doc_groups": "doc_groups",
    "query_groups": "query_groups",
}


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON: equal settings give equal strings, so params trigger no false reruns."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_settings(text: str) -> dict[str, Any]:
    """The inverse of `canonical_json`, for a job's params."""
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


def section_defaults(section: str) -> dict[str, Any]:
    """Defaults of one entry of a named-entries section (`bm25`, `encoders`), from the schema."""
    entry = config_schema()["properties"][section]["additionalProperties"]
    return {
        key: copy.deepcopy(spec["default"])
        for key, spec in entry["properties"].items()
        if "default" in spec
    }


def with_section_defaults(section: str, name: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """`mapping` (one `section.name` entry) completed with the schema's defaults; unknown keys
    are an error naming the key."""
    entry = config_schema()["properties"][section]["additionalProperties"]
    known = entry["properties"]
    for key in mapping:
        if key not in known:
            raise ValueError(
                f"{section}.{name}.{key}: unknown key (known keys: {', '.join(sorted(known))})"
            )
    for key in entry.get("required", []):
        if key not in mapping:
            raise ValueError(f"{section}.{name}.{key}: missing")
    return section_defaults(section) | dict(mapping)


@dataclass(frozen=True)
class DatasetSettings:
    """One `datasets.<name>` entry: its type, the builder's options, its relevance threshold."""

    name: str
    type: str
    options: Mapping[str, Any]  # everything that shapes the prepared tables
    relevance_threshold: int  # the dataset's own, else evaluation.relevance_threshold

    @property
    def config_key(self) -> str:
        return f"datasets.{self.name}"

    @property
    def has_reference_english(self) -> bool:
        """The source ships an English version of every document (no MT needed)."""
        return self.type in REFERENCE_ENGLISH_TYPES or bool(self.options.get("translated_docs"))

    @property
    def documents_are_english(self) -> bool:
        """Tatoeba xx-en searches English sentences: an English version would change nothing."""
        return self.type == "tatoeba" and self.options["direction"] == "xx-en"

    @property
    def local_files(self) -> list[str]:
        """A `local` collection's files: inputs of its preparation, so edits re-prepare it."""
        if self.type != "local":
            return []
        return [self.options[key] for key in LOCAL_FILE_KEYS.values() if self.options.get(key)]

    @property
    def candidate_pool(self) -> str:
        """"group" (each query searches only its candidate group's documents) or "all": the
        `candidate_pool` key, or when it is null what the protocol implies (tatoeba's mteb
        protocol searches per group)."""
        chosen = self.options.get("candidate_pool")
        if chosen is None:
            return "group" if self.options.get("protocol") == "mteb" else "all"
        return str(chosen)

    @property
    def table_options(self) -> dict[str, Any]:
        """The options that shape the prepared tables: all but `candidate_pool`, which only
        decides how the (always written) groups are searched, so changing it re-prepares
        nothing."""
        return {key: value for key, value in self.options.items() if key != "candidate_pool"}

    @property
    def missing_groups(self) -> str | None:
        """Why the dataset has no candidate groups (for a start-up error), or None if it has."""
        if self.type == "cldr_cards":
            return None
        if self.type == "tatoeba":
            if self.options["direction"] == "xx-en":
                return None
            return (
                "Tatoeba's groups (a sentence's language file) need direction xx-en: an English "
                "query is in every language file that holds it"
            )
        if self.type == "local":
            if self.options.get("doc_groups") and self.options.get("query_groups"):
                return None
            return "a local collection's groups come from its doc_groups and query_groups files"
        return f"type {self.type} defines no candidate groups (tatoeba, cldr_cards and local do)"


@dataclass(frozen=True)
class EvaluationSettings:
    query_split: str  # the evaluated split ("all": every query)
    relevance_threshold: int
    highlighted_pairs: tuple[tuple[str, str], ...]
    unit: str  # query-doc-language (the paper's) or query: see clirbench.evaluate.metrics


def user_cache_folder() -> Path:
    """clirbench's folder in the user's cache ($XDG_CACHE_HOME, by default ~/.cache): what
    outlives any one experiment, such as encoded texts and model weight hashes."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clirbench"


def _configured_or_user_cache(configured: str | None, name: str) -> Path:
    return Path(configured).expanduser() if configured else user_cache_folder() / name


def embedding_cache_folder(configured: str | None) -> Path:
    """The embedding cache: the `embedding_cache` key, else in the user's cache folder."""
    return _configured_or_user_cache(configured, "embeddings")


def translation_cache_folder(configured: str | None) -> Path:
    """The translation cache: the `translation_cache` key, else in the user's cache folder."""
    return _configured_or_user_cache(configured, "translations")


def index_cache_folder(configured: str | None) -> Path:
    """The approximate-search index store: the `index_cache` key, else in the user's cache."""
    return _configured_or_user_cache(configured, "indexes")


def score_cache_folder(configured: str | None) -> Path:
    """The re-rankers' score cache: the `score_cache` key, else in the user's cache folder."""
    return _configured_or_user_cache(configured, "rerank-scores")


@dataclass(frozen=True)
class StudySettings:
    """The validated config (schema defaults filled in), typed."""

    experiment: str
    results_dir: str
    conditions: tuple[str, ...]
    datasets: Mapping[str, DatasetSettings]
    bm25: Mapping[str, Mapping[str, Any]]
    encoders: Mapping[str, Mapping[str, Any]]
    evaluation: EvaluationSettings
    top_k: int
    stages: Mapping[str, Mapping[str, Any]]
    config: Mapping[str, Any]  # the whole validated config, for its hash and the report

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StudySettings:
        """Typed settings of a config that `checked_config` has validated and completed."""
        evaluation = config["evaluation"]
        datasets = {
            name: DatasetSettings(
                name=name,
                type=entry["type"],
                options={k: v for k, v in entry.items() if k != "relevance_threshold"},
                relevance_threshold=int(
                    entry.get("relevance_threshold", evaluation["relevance_threshold"])
                ),
            )
            for name, entry in sorted(config["datasets"].items())
        }
        return cls(
            experiment=config["experiment"],
            results_dir=config["results_dir"],
            conditions=tuple(config["conditions"]),
            datasets=datasets,
            bm25=dict(config["bm25"]),
            encoders=dict(config["encoders"]),
            evaluation=EvaluationSettings(
                query_split=evaluation["query_split"],
                relevance_threshold=int(evaluation["relevance_threshold"]),
                highlighted_pairs=tuple(
                    (str(q), str(d)) for q, d in evaluation["highlighted_pairs"]
                ),
                unit=str(evaluation["unit"]),
            ),
            top_k=int(config["retrieval"]["top_k"]),
            stages=dict(config["stages"]),
            config=config,
        )

    @property
    def output_root(self) -> str:
        return f"{self.results_dir}/{self.experiment}"

    @property
    def hash(self) -> str:
        return config_hash(self.config)

    def _enabled_stage(self, name: str) -> Mapping[str, Any]:
        stage = self.stages.get(name) or {}
        return stage if stage.get("enabled") else {}

    @property
    def translation(self) -> Mapping[str, Any]:
        """`stages.translation`, or an empty mapping when the stage is switched off."""
        return self._enabled_stage("translation")

    @property
    def translators(self) -> Mapping[str, Mapping[str, Any]]:
        """`stages.translation.translators` of an enabled translation stage."""
        return self.translation.get("translators", {})

    @property
    def ann_search(self) -> Mapping[str, Any]:
        """`stages.ann_search`, or an empty mapping when the stage is switched off."""
        return self._enabled_stage("ann_search")

    @property
    def fine_tuning(self) -> Mapping[str, Any]:
        """`stages.fine_tuning`, or an empty mapping when the stage is switched off."""
        return self._enabled_stage("fine_tuning")

    @property
    def reranking(self) -> Mapping[str, Any]:
        """`stages.reranking`, or an empty mapping when the stage is switched off."""
        return self._enabled_stage("reranking")

    @property
    def analyses(self) -> Mapping[str, Any]:
        """`stages.analyses`, or an empty mapping when the stage is switched off."""
        return self._enabled_stage("analyses")

    @property
    def pilot(self) -> Mapping[str, Any]:
        """`stages.translation.pilot`, or an empty mapping when it does not run."""
        pilot = self.translation.get("pilot") or {}
        return pilot if pilot.get("enabled") else {}


def validated_settings(config: Mapping[str, Any]) -> StudySettings:
    """Typed settings of a raw config: validated against the schema, defaults filled in (what
    the Snakefile does), for code and tests outside Snakemake."""
    return StudySettings.from_config(checked_config(config))
