"""The machine translation pilot section: which translator the study chose, and why.

The paper translated every document with NLLB-200 after a pilot (its Figure 2) in which a
sample of documents per language was translated by each candidate system and scored for
adequacy (COMET-Kiwi, reference-free) and fluency (perplexity of the English output under a
causal LM). Retrieval on machine-translated documents is only as good as the translation,
so the page shows that pilot as this run made it: the systems' scores overall and per
language, the figure, where the chosen system ranked, and a few translations to read. The
dataset's own English ("reference" system) is the upper bound, never a candidate: it is
labelled so, left out of the ranks and of the bold best values.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.intermediate import read_parquet, reading
from clirbench.core.systems import REFERENCE_SYSTEM
from clirbench.evaluate.metrics import ALL
from clirbench.report.common import DECIMALS, MISSING, Cell, format_value
from clirbench.report.pilot_figure import LanguageScores, pilot_figure_png

REFERENCE_LABEL = "reference English (upper bound)"
# summary column, heading, higher is better
PILOT_SCORES = (
    ("comet_kiwi", "COMET-Kiwi", True),
    ("encoder_cosine", "encoder cosine", True),
    ("nll", "NLL", False),
    ("perplexity", "perplexity", False),
    ("off_target_rate", "off-target rate", False),
    ("chrf", "chrF", True),
)
SCORE_COLUMNS = [column for column, _, _ in PILOT_SCORES]
SUMMARY_COLUMNS = ["system", "lang", "documents", *SCORE_COLUMNS]
DOCUMENT_COLUMNS = ["dataset", "doc_id", "lang", "system", "source", "translation", "reference",
                    "perplexity", "encoder_cosine", "comet_kiwi"]  # fmt: skip
ADEQUACY_MEASURES = (("comet_kiwi", "COMET-Kiwi"), ("encoder_cosine", "encoder cosine"))
EXAMPLE_DOCUMENTS = 3
EXAMPLE_CHARACTERS = 400  # documents can be long; the start shows the quality well enough


@dataclass(frozen=True)
class SystemRow:
    """One table row: a system's scores (overall, or in one language)."""

    system: str
    label: str
    chosen: bool
    documents: str
    cells: list[Cell]


@dataclass(frozen=True)
class Example:
    """One sampled document: its source text and every system's translation (shortened)."""

    dataset: str
    doc_id: str
    lang: str
    source: str
    translations: list[tuple[str, str, str]]  # label, translation, its scores as text


def read_pilot_summary(path: Path) -> pl.DataFrame:
    """The pilot summary CSV, labels as text (a language "no" stays "no"), scores as floats."""
    with reading(path):
        table = pl.read_csv(path, infer_schema=False)
    missing = [column for column in SUMMARY_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a pilot summary (no column {', '.join(missing)})")
    numbers = [pl.col("documents").cast(pl.Int64)]
    numbers += [pl.col(column).cast(pl.Float64) for column in SCORE_COLUMNS]
    try:
        return table.with_columns(numbers)
    except pl.exceptions.PolarsError as error:
        message = f"{path}: the pilot summary's documents and scores must be numbers"
        raise ValueError(message) from error


def read_pilot_documents(path: Path) -> pl.DataFrame:
    """The pilot's per-document table (the columns the examples need)."""
    table = read_parquet(path)
    missing = [column for column in DOCUMENT_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a pilot document table (no column {', '.join(missing)})")
    return table.select(DOCUMENT_COLUMNS)


def system_label(system: str) -> str:
    return REFERENCE_LABEL if system == REFERENCE_SYSTEM else system


def pilot_section(
    summary: pl.DataFrame, documents: pl.DataFrame | None, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The section's context. `settings` is the run metadata's "translation" entry: chosen,
    fluency_lm, adequacy, documents_per_language, seed, skipped (each may be absent)."""
    systems = _systems(summary)
    chosen = settings.get("chosen")
    overall = summary.filter(pl.col("lang") == ALL)
    per_language = summary.filter(pl.col("lang") != ALL)
    languages = sorted(per_language["lang"].unique().to_list())
    shown = [s for s in PILOT_SCORES if summary[s[0]].fill_nan(None).drop_nulls().len()]
    adequacy = _adequacy_column(overall)
    figure_data = [_language_scores(per_language, lang) for lang in languages]
    taken = _languages_taken(per_language, systems)
    most = max((len(langs) for langs in taken.values()), default=0)
    # Overall means of systems that took fewer languages are over other documents: the
    # bold values of the overall table compare only the systems that took the most.
    widest = [system for system, langs in taken.items() if len(langs) == most]
    labels = {system: system_label(system) for system in systems}
    png = pilot_figure_png(figure_data, systems, labels, chosen if chosen in systems else None)
    return {
        "headings": [heading for _, heading, _ in shown],
        "overall": _rows(overall, systems, shown, chosen, widest),
        "per_language": [
            (lang, _rows(per_language.filter(pl.col("lang") == lang), systems, shown, chosen))
            for lang in languages
        ],
        "not_scored": [heading for column, heading, higher in PILOT_SCORES
                       if (column, heading, higher) not in shown],
        "figure": base64.b64encode(png).decode("ascii"),
        "figure_alt": "Adequacy and perplexity per source language and translation system",
        "adequacy_measure": dict(ADEQUACY_MEASURES).get(adequacy or "", MISSING),
        "mixed_adequacy": len({s.adequacy_measure for s in figure_data}) > 1,
        "adequacy_setting": str(settings.get("adequacy") or MISSING),
        "fluency_lm": str(settings.get("fluency_lm") or MISSING),
        "documents_per_language": settings.get("documents_per_language"),
        "seed": settings.get("seed"),
        "chosen": _chosen(overall, taken, chosen, adequacy),
        "coverage": [(s, ", ".join(langs)) for s, langs in taken.items() if len(langs) < most],
        "notices": [str(notice) for notice in settings.get("skipped") or []],
        "examples": [] if documents is None else examples(documents),
        "example_characters": EXAMPLE_CHARACTERS,
        "decimals": DECIMALS,
    }


def _systems(summary: pl.DataFrame) -> list[str]:
    """The candidate systems by name, then the reference (the upper bound) last."""
    names = set(summary["system"].to_list())
    return sorted(names - {REFERENCE_SYSTEM}) + sorted(names & {REFERENCE_SYSTEM})


def _value(frame: pl.DataFrame, system: str, column: str) -> float | None:
    values = frame.filter(pl.col("system") == system)[column].to_list()
    value = values[0] if values else None
    return None if value is None or math.isnan(value) else float(value)


def _rows(
    frame: pl.DataFrame, systems: Sequence[str], shown: Sequence[tuple[str, str, bool]],
    chosen: str | None, compared: Sequence[str] | None = None,
) -> list[SystemRow]:  # fmt: skip
    """Rows of the systems present in `frame`; per score the best of the candidates (among
    `compared`, if given) is bold."""
    present = [system for system in systems if frame.filter(pl.col("system") == system).height]
    contenders = [
        s for s in present if s != REFERENCE_SYSTEM and (compared is None or s in compared)
    ]
    best = {
        column: _best([_value(frame, s, column) for s in contenders], higher)
        for column, _, higher in shown
    }
    rows = []
    for system in present:
        documents = frame.filter(pl.col("system") == system)["documents"].item()
        cells = []
        for column, _, _ in shown:
            value = _value(frame, system, column)
            rounded = None if value is None else round(value, DECIMALS)
            top = system in contenders and rounded is not None and rounded == best[column]
            cells.append(Cell(format_value(value), best=top))
        count = MISSING if documents is None else f"{documents:,}"
        rows.append(SystemRow(system, system_label(system), system == chosen, count, cells))
    return rows


def _best(values: list[float | None], higher_is_better: bool) -> float | None:
    rounded = [round(value, DECIMALS) for value in values if value is not None]
    if not rounded:
        return None
    return max(rounded) if higher_is_better else min(rounded)


def _adequacy_column(frame: pl.DataFrame) -> str | None:
    """COMET-Kiwi where the pilot scored it, else the encoder cosine (the offline measure)."""
    for column, _ in ADEQUACY_MEASURES:
        if frame[column].fill_nan(None).drop_nulls().len():
            return column
    return None


def _language_scores(per_language: pl.DataFrame, lang: str) -> LanguageScores:
    rows = per_language.filter(pl.col("lang") == lang)
    column = _adequacy_column(rows)
    systems = rows["system"].to_list()
    adequacy = {} if column is None else {s: _value(rows, s, column) for s in systems}
    perplexity = {s: _value(rows, s, "perplexity") for s in systems}
    return LanguageScores(
        lang,
        dict(ADEQUACY_MEASURES).get(column or "", ""),
        {s: v for s, v in adequacy.items() if v is not None},
        {s: v for s, v in perplexity.items() if v is not None},
    )


def _chosen(
    overall: pl.DataFrame, taken: Mapping[str, list[str]], chosen: str | None,
    adequacy: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Where the chosen system ranked among the candidates that took all its languages (a
    mean over fewer languages is over other documents); the reference is no candidate."""
    if not chosen:
        return {"system": None}
    if chosen not in taken:
        return {"system": chosen, "in_pilot": False}
    candidates = [s for s, langs in taken.items() if set(langs) >= set(taken[chosen])]
    return {
        "system": chosen,
        "in_pilot": True,
        "unranked": [s for s in taken if s not in candidates],
        "adequacy": _rank(overall, candidates, chosen, adequacy, higher_is_better=True),
        "fluency": _rank(overall, candidates, chosen, "perplexity", higher_is_better=False),
    }


def _rank(
    overall: pl.DataFrame, candidates: Sequence[str], chosen: str, column: str | None,
    higher_is_better: bool,
) -> str:  # fmt: skip
    """"2nd of 3" (ties share a rank), or a dash when the chosen system has no such score."""
    if column is None or (mine := _value(overall, chosen, column)) is None:
        return MISSING
    others = [v for s in candidates if (v := _value(overall, s, column)) is not None]
    better = sum(1 for v in others if (v > mine if higher_is_better else v < mine))
    return f"{ordinal(better + 1)} of {len(others)}"


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ..."""
    if 11 <= number % 100 <= 13:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def _languages_taken(per_language: pl.DataFrame, systems: Sequence[str]) -> dict[str, list[str]]:
    """The languages each candidate translated (the reference left out)."""
    return {
        system: sorted(per_language.filter(pl.col("system") == system)["lang"].to_list())
        for system in systems
        if system != REFERENCE_SYSTEM
    }


def examples(documents: pl.DataFrame, count: int = EXAMPLE_DOCUMENTS) -> list[Example]:
    """A few documents to read, in different languages where possible: those translated by
    the most systems first, then by language, dataset and doc_id (the same pick every run)."""
    per_document = (
        documents.group_by("dataset", "doc_id", "lang")
        .agg(systems=pl.col("system").n_unique())
        .sort(["systems", "lang", "dataset", "doc_id"], descending=[True, False, False, False])
    )
    picked: list[tuple[str, str, str]] = []
    seen_languages: set[str] = set()
    keys = per_document.select("dataset", "doc_id", "lang").rows()
    for key in keys:  # one per language first, then any
        if len(picked) < count and key[2] not in seen_languages:
            picked.append(key)
            seen_languages.add(key[2])
    picked += [key for key in keys if key not in picked][: count - len(picked)]
    return [_example(documents, *key) for key in picked]


def _example(documents: pl.DataFrame, dataset: str, doc_id: str, lang: str) -> Example:
    rows = documents.filter(
        (pl.col("dataset") == dataset) & (pl.col("doc_id") == doc_id) & (pl.col("lang") == lang)
    )
    order = {system: index for index, system in enumerate(_systems(rows))}
    translations = [
        (system_label(row["system"]), shorten(row["translation"] or ""), _scores_text(row))
        for row in sorted(rows.iter_rows(named=True), key=lambda row: order[row["system"]])
    ]
    return Example(dataset, str(doc_id), lang, shorten(rows["source"][0] or ""), translations)


def _scores_text(row: Mapping[str, Any]) -> str:
    parts = []
    for column, heading in (*ADEQUACY_MEASURES, ("perplexity", "perplexity")):
        value = row.get(column)
        if value is not None and not math.isnan(value):
            parts.append(f"{heading} {value:.{DECIMALS}f}")
    return ", ".join(parts)


def shorten(text: str, characters: int = EXAMPLE_CHARACTERS) -> str:
    """The start of `text`, cut at a word boundary, with an ellipsis when cut."""
    if len(text) <= characters:
        return text
    cut = text[:characters]
    space = cut.rfind(" ")
    return (cut[:space] if space > characters // 2 else cut).rstrip() + " …"
