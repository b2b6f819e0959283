"""The translated conditions section: what each machine-translated condition holds.

An `mt-<translator>` condition is the dataset's documents in English as one translator made
them, but not every document was translated: English documents are copied unchanged, and a
language the translator does not cover may be kept in its original language. The metric
tables show such a condition's rows per document language all the same, so the page says,
per dataset and condition, which languages were translated, copied and kept, and how long
documents were handled; rows of a kept language compare untranslated text, and a reader
must know that before reading them as a translation result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clirbench.core.intermediate import reading
from clirbench.core.systems import MACHINE_TRANSLATION_PREFIX, condition_sort_key
from clirbench.report.common import MISSING, condition_label

SUMMARY_KEYS = ("translator", "description", "fingerprint", "long_documents", "translated",
                "copied", "kept", "empty_translations")  # fmt: skip
LONG_DOCUMENTS = {
    "truncate": "cut at the maximum input length (as the paper)",
    "split": "split at sentence boundaries, the pieces translated one by one and joined",
    None: "sent whole (the translator has no input length setting)",
}
FINGERPRINT_CHARACTERS = 12  # enough to tell two translations apart on the page


@dataclass(frozen=True)
class TranslatedCondition:
    """One (dataset, mt-* condition) row of the section."""

    dataset: str
    condition: str
    label: str
    translator: str
    description: str
    fingerprint: str
    long_documents: str
    translated: list[tuple[str, int]]  # language, documents
    copied: list[tuple[str, int]]
    kept: list[tuple[str, int]]
    empty_translations: int


def read_translation_summary(path: Path) -> dict[str, Any]:
    """A translation summary JSON (written by the translation stage's gather rule)."""
    with reading(path):
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = [key for key in SUMMARY_KEYS if not isinstance(summary, dict) or key not in summary]
    if missing:
        raise ValueError(f"{path}: not a translation summary (no {', '.join(missing)})")
    if summary["long_documents"] not in LONG_DOCUMENTS:
        raise ValueError(
            f"{path}: long_documents is {summary['long_documents']!r}; "
            "expected truncate, split or null"
        )
    return summary


def translated_conditions(
    summaries: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[TranslatedCondition]:
    """One row per (dataset, condition), by dataset then in the metric tables' condition order."""
    for dataset, condition in summaries:
        if not condition.startswith(MACHINE_TRANSLATION_PREFIX):
            raise ValueError(
                f"translation summary of {dataset}, {condition}: machine-translated conditions "
                f"are named {MACHINE_TRANSLATION_PREFIX}<translator>"
            )
    ordered = sorted(summaries, key=lambda key: (key[0], condition_sort_key(key[1])))
    return [_row(*key, summaries[key]) for key in ordered]


def kept_languages(rows: list[TranslatedCondition]) -> list[TranslatedCondition]:
    """The rows with languages kept untranslated (the note under the table names them)."""
    return [row for row in rows if row.kept]


def _row(dataset: str, condition: str, summary: Mapping[str, Any]) -> TranslatedCondition:
    fingerprint = str(summary["fingerprint"] or MISSING)
    return TranslatedCondition(
        dataset=dataset,
        condition=condition,
        label=condition_label(condition),
        translator=str(summary["translator"]),
        description=str(summary["description"] or MISSING),
        fingerprint=fingerprint[:FINGERPRINT_CHARACTERS],
        long_documents=LONG_DOCUMENTS[summary["long_documents"]],
        translated=_counts(summary["translated"]),
        copied=_counts(summary["copied"]),
        kept=_counts(summary["kept"]),
        empty_translations=int(summary["empty_translations"] or 0),
    )


def _counts(per_language: Mapping[str, Any] | None) -> list[tuple[str, int]]:
    return sorted((str(lang), int(n)) for lang, n in (per_language or {}).items() if int(n))
