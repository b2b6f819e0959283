"""Which reported results involve a language an encoder was not trained on: the † marks.

The unit is one result of the summary (a system on a language pair of one dataset and
condition). An encoder's training languages are in its model record
(`clirbench.provenance.models`, `languages`: see `clirbench.embed.language_coverage`); an
HNSW system (`<encoder>+hnsw`) has its encoder's, a fine-tuned encoder's record its base's.
A result involves the query language and the language of the document text the system read:
a reference-English condition's documents are English, and so are a machine-translated
condition's, except those of a language the translator kept untranslated (its translation
summary's `kept`). Systems without a known list (BM25, re-ranked runs, an encoder with no
list) are never marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from clirbench.core.conditions import MACHINE_TRANSLATION_PREFIX, ORIGINAL
from clirbench.core.systems import hnsw_system_name
from clirbench.embed.language_coverage import ENGLISH, normalised
from clirbench.evaluate.metrics import ALL

MARK = "†"
ENCODER_ROLES = frozenset({"encoder", "fine-tuned encoder"})


@dataclass(frozen=True)
class LanguageCoverage:
    """The training languages of each system that has a known list (normalised codes), and
    per (dataset, machine-translated condition) the languages kept untranslated."""

    systems: Mapping[str, frozenset[str]] = field(default_factory=dict)
    kept: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def document_language(self, dataset: str, condition: str, doc_lang: str) -> str:
        """The language of the document text a system read for documents of `doc_lang`."""
        if condition == ORIGINAL:
            return doc_lang
        if condition.startswith(MACHINE_TRANSLATION_PREFIX):
            kept = self.kept.get((dataset, condition), frozenset())
            return doc_lang if normalised(doc_lang) in kept else ENGLISH
        return ENGLISH  # the dataset's own English

    def uncovered(
        self, dataset: str, condition: str, system: str, query_lang: str, doc_lang: str
    ) -> list[str]:
        """The languages of this result outside the system's training languages."""
        covered = self.systems.get(system)
        if covered is None or ALL in (query_lang, doc_lang):
            return []
        involved = {query_lang, self.document_language(dataset, condition, doc_lang)}
        return sorted(code for code in involved if normalised(code) not in covered)

    def uncovered_by_system(self, summary: pl.DataFrame) -> dict[str, list[str]]:
        """Per system with any, the languages outside its training languages among all the
        pairs it was evaluated on (Table 3's marks)."""
        found: dict[str, set[str]] = {}
        pairs = summary.filter(pl.col("query_lang") != ALL).select(
            "dataset", "condition", "system", "query_lang", "doc_lang"
        )
        for row in pairs.unique().iter_rows():
            missing = self.uncovered(*row)
            if missing:
                found.setdefault(row[2], set()).update(missing)
        return {system: sorted(languages) for system, languages in sorted(found.items())}


def language_coverage(
    records: Sequence[Mapping[str, Any]],
    translation_summaries: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> LanguageCoverage:
    """From the model records and the translation summaries ((dataset, condition) -> the
    summary JSON), as the report reads them."""
    systems: dict[str, frozenset[str]] = {}
    for record in records:
        languages = record.get("languages")
        if record.get("role") not in ENCODER_ROLES or languages is None:
            continue
        covered = _normalised(languages)
        name = str(record["name"])
        systems[name] = covered
        systems[hnsw_system_name(name)] = covered
    kept = {
        (str(dataset), str(condition)): _normalised(summary.get("kept") or {})
        for (dataset, condition), summary in (translation_summaries or {}).items()
    }
    return LanguageCoverage(systems, kept)


def mark_title(languages: Iterable[str]) -> str:
    """The hover text of a mark."""
    return f"{MARK} not trained on {', '.join(languages)}"


def _normalised(codes: Iterable[str]) -> frozenset[str]:
    return frozenset(normalised(str(code)) for code in codes)
