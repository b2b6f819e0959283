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


def conditions_of(config: Mapping[str, Any], dataset: str) -> list[str]:
    """The configured conditions this dataset supports (a local collection may lack translations)."""
    settings = config["datasets"][dataset]
    has_translation = settings["type"] != "local" or bool(settings.get("translated_docs"))
    conditions = config.get("conditions", ["original", "translated"])
    return [c for c in conditions if c == "original" or has_translation]


def uses_gpu(encoder_settings: Mapping[str, Any]) -> bool:
    return str(encoder_settings.get("device", "cpu")).startswith("cuda")
