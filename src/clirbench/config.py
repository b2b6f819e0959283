"""Reading the validated workflow configuration: systems, conditions, stable params."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON: equal settings give equal strings, so params trigger no false reruns."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


def system_names(config: Mapping[str, Any]) -> list[str]:
    """BM25 variants and encoders share one namespace: the run file is named after the system."""
    bm25, encoders = list(config.get("bm25", {})), list(config.get("encoders", {}))
    clash = sorted(set(bm25) & set(encoders))
    if clash:
        raise ValueError(
            f"config keys bm25.{clash[0]} and encoders.{clash[0]}: system names must be unique"
        )
    return sorted(bm25 + encoders)


# Dataset types whose source has the English parallel of every document (the "translated"
# condition without machine translation). The others get it from the translation stage.
PARALLEL_TYPES = frozenset({"cldr_cards", "xquad", "mmarco", "tatoeba"})
PLANNED_STAGES = ("translation", "ann_search", "fine_tuning", "reranking")


def has_translation(settings: Mapping[str, Any]) -> bool:
    return settings["type"] in PARALLEL_TYPES or bool(settings.get("translated_docs"))


def already_english(settings: Mapping[str, Any]) -> bool:
    """Tatoeba xx-en searches English sentences: translating them would change nothing."""
    return settings["type"] == "tatoeba" and settings.get("direction", "xx-en") == "xx-en"


def conditions_of(config: Mapping[str, Any], dataset: str) -> list[str]:
    """The configured conditions this dataset supports."""
    conditions = config.get("conditions", ["original", "translated"])
    settings = config["datasets"][dataset]
    usable = has_translation(settings) and not already_english(settings)
    return [c for c in conditions if c == "original" or usable]


def relevance_threshold(config: Mapping[str, Any], dataset: str) -> int:
    """A dataset's own threshold (graded CLIRMatrix qrels) or the evaluation default."""
    default = config["evaluation"]["relevance_threshold"]
    return int(config["datasets"][dataset].get("relevance_threshold", default))


def dataset_settings(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The settings that shape the prepared tables (evaluation-only keys left out)."""
    return {k: v for k, v in config["datasets"][dataset].items() if k != "relevance_threshold"}


def planned_stage_messages(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(notices, errors) for stages listed in the config that the workflow does not run yet."""
    notices, errors = [], []
    for stage, settings in config.get("stages", {}).items():
        if settings.get("enabled"):
            errors.append(
                f"stages.{stage}.enabled: the {stage} stage is not built yet; set it to false"
            )
        else:
            notices.append(
                f"stages.{stage}: configured but switched off (not built yet); its settings are recorded only"
            )
        unknown = _unset_keys(settings, f"stages.{stage}")
        if unknown:
            notices.append(f"stages.{stage}: values still to be filled in: {', '.join(unknown)}")
    untranslated = [name for name, s in config["datasets"].items() if not has_translation(s)]
    if untranslated and "translated" in config.get("conditions", []):
        notices.append(
            "datasets " + ", ".join(sorted(untranslated)) + ": no English parallel documents; "
            "their translated condition waits for the translation stage, only 'original' runs"
        )
    return notices, errors


def _unset_keys(settings: Mapping[str, Any], prefix: str) -> list[str]:
    """Dotted keys of `settings` whose value is null (known to be needed, value not known)."""
    unset = []
    for key, value in sorted(settings.items()):
        if value is None:
            unset.append(f"{prefix}.{key}")
        elif isinstance(value, Mapping):
            unset.extend(_unset_keys(value, f"{prefix}.{key}"))
    return unset


def uses_gpu(encoder_settings: Mapping[str, Any]) -> bool:
    return str(encoder_settings.get("device", "cpu")).startswith("cuda")
