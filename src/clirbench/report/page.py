"""The study's HTML report: one self-contained page with tables, heatmaps and run metadata.

Self-contained means no network access is needed to read it (images are inlined PNGs,
styles are inline), so the page can be archived or mailed next to the results and still
render years later. This module assembles the sections' contexts (one module per section:
table3, evaluation_protocol, datasets, heatmaps, per_language, highlighted_pairs, run_metadata;
translated_conditions and translation_pilot for the translation stage; approximate_search
for the ANN stage) and renders templates/report.html.j2, which includes one part per section
from templates/sections/.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from clirbench.core.atomic import write_text
from clirbench.evaluate.dataset_counts import DatasetStatistics
from clirbench.report.analyses import analyses_section
from clirbench.report.approximate_search import approximate_search
from clirbench.report.common import DECIMALS, condition_label
from clirbench.report.datasets import dataset_rows
from clirbench.report.downloads import add_csv_downloads, write_tables
from clirbench.report.evaluation_protocol import evaluation_section
from clirbench.report.fine_tuning import fine_tuning_section
from clirbench.report.reranking import reranking_section
from clirbench.report.heatmaps import heatmaps
from clirbench.report.per_language import per_language
from clirbench.report.highlighted_pairs import highlighted_pair_tables, metric_labels, pair_labels
from clirbench.report.language_coverage import language_coverage
from clirbench.report.run_metadata import run_metadata
from clirbench.report.table3 import table3
from clirbench.report.translated_conditions import translated_conditions
from clirbench.report.translation_pilot import REFERENCE_LABEL, pilot_section

TEMPLATE = "report.html.j2"


def build_report(
    summary: pl.DataFrame,
    metadata: dict[str, Any],
    stage_times: pl.DataFrame,
    highlighted_pairs: Sequence[tuple[str, str]],
    out_path: Path,
    dataset_statistics: Sequence[DatasetStatistics] = (),
    *,
    pilot_summary: pl.DataFrame | None = None,
    pilot_documents: pl.DataFrame | None = None,
    translation_summaries: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    translation: Mapping[str, Any] | None = None,
    ann_efficiency: Sequence[Mapping[str, Any]] = (),
    ann_overlap: pl.DataFrame | None = None,
    fine_tuning: Sequence[Mapping[str, Any]] = (),
    reranking: Mapping[str, Any] | None = None,
    analyses: Mapping[str, Any] | None = None,
    run_coverage: pl.DataFrame | None = None,
    tables_out: Path | None = None,
) -> None:
    """Write the report for a summary.csv table (see `evaluate.metrics.summary_table`),
    each table with a CSV download link; with `tables_out`, the same CSVs in that folder.

    `metadata` keys the page knows: library_versions (name -> version), models
    (system -> description), config_hash, date (defaults to today, UTC), and those of
    `run_metadata.KNOWN_METADATA` (run_times, source, hardware, model_records,
    dataset_types; see `run_metadata.run_metadata`).  Other keys are listed as they are.  `stage_times` has columns stage,
    jobs, seconds (see `run_metadata.stage_times_from_benchmarks`).  The keyword-only
    arguments feed the translation and ANN stages' sections, see `render_report`.
    """
    page = render_report(
        summary, metadata, stage_times, highlighted_pairs, dataset_statistics,
        pilot_summary=pilot_summary, pilot_documents=pilot_documents,
        translation_summaries=translation_summaries, translation=translation,
        ann_efficiency=ann_efficiency, ann_overlap=ann_overlap, fine_tuning=fine_tuning,
        reranking=reranking, analyses=analyses, run_coverage=run_coverage,
    )  # fmt: skip
    page, tables = add_csv_downloads(page)
    if tables_out is not None:
        write_tables(tables, tables_out)
    write_text(page, out_path)


def render_report(
    summary: pl.DataFrame,
    metadata: dict[str, Any],
    stage_times: pl.DataFrame,
    highlighted_pairs: Sequence[tuple[str, str]],
    dataset_statistics: Sequence[DatasetStatistics] = (),
    *,
    pilot_summary: pl.DataFrame | None = None,
    pilot_documents: pl.DataFrame | None = None,
    translation_summaries: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    translation: Mapping[str, Any] | None = None,
    ann_efficiency: Sequence[Mapping[str, Any]] = (),
    ann_overlap: pl.DataFrame | None = None,
    fine_tuning: Sequence[Mapping[str, Any]] = (),
    reranking: Mapping[str, Any] | None = None,
    analyses: Mapping[str, Any] | None = None,
    run_coverage: pl.DataFrame | None = None,
) -> str:
    """The page's HTML (what `build_report` writes).

    The translation stage's sections appear only with their inputs: the pilot section with
    `pilot_summary` (`pilot_documents` adds example translations), the translated conditions
    section with `translation_summaries` ((dataset, mt-* condition) -> summary JSON content).
    `translation`: the stage's settings for the page (chosen, fluency_lm, adequacy,
    documents_per_language, seed, skipped), see `translation_pilot.pilot_section`.
    The approximate search section appears with `ann_efficiency` (the efficiency JSONs'
    contents, `approximate_search.read_ann_efficiency`) or `ann_overlap` (the stacked
    overlap tables, `approximate_search.read_ann_overlap`), or both. The fine-tuning
    section appears with `fine_tuning` (the training records, one per trained model and
    scope, `fine_tuning.read_training_record`). The re-ranking section appears with
    `reranking` (records, runs and settings, see `reranking.reranking_section`). The
    analyses section appears with `analyses` (the tables, see `analyses.analyses_section`).
    The evaluation protocol note states metadata["evaluation"] (unit, top_k) and, with
    `run_coverage` (run_coverage.csv), how many queries the runs left empty.
    """
    if pilot_documents is not None and pilot_summary is None:
        raise ValueError("the pilot's documents were given without the pilot summary")
    settings = translation or {}
    pilot = (
        None if pilot_summary is None else pilot_section(pilot_summary, pilot_documents, settings)
    )
    translated = translated_conditions(translation_summaries or {})
    # The evaluation protocol (unit, run depth) feeds its note, not the metadata rows.
    protocol = dict(metadata.get("evaluation") or {})
    metadata = {key: value for key, value in metadata.items() if key != "evaluation"}
    # Results on languages an encoder was not trained on are marked (Table 3, heatmaps).
    coverage = language_coverage(metadata.get("model_records") or [], translation_summaries)
    notices = [str(notice) for notice in settings.get("skipped") or []]
    if notices and pilot is None and not translated:
        # No translation section to carry them: they are listed with the run's metadata.
        metadata = {**metadata, "translation notices": "; ".join(notices)}
    pairs = [(str(query), str(doc)) for query, doc in highlighted_pairs]
    context = {
        "table3": table3(
            summary,
            (analyses or {}).get("significance"),
            (analyses or {}).get("intervals"),
            sampled_systems(reranking),
            coverage,
        ),
        "evaluation": evaluation_section(
            summary, protocol, dataset_statistics, run_coverage, sampled_systems(reranking)
        ),
        "datasets": dataset_rows(dataset_statistics),
        "heatmaps": heatmaps(summary, coverage),
        "per_language": per_language(summary),
        "highlighted": highlighted_pair_tables(summary, pairs),
        "highlighted_pairs": pair_labels(pairs),
        "pair_metrics": metric_labels(),
        "run": run_metadata(metadata, stage_times),
        "decimals": DECIMALS,
        "pilot": pilot,
        "translated": translated,
        # The pilot section lists the notices; without it, the translated conditions do.
        "translation_notices": notices if pilot is None else [],
        "reference_label": REFERENCE_LABEL,
        "approximate": approximate_search(ann_efficiency, ann_overlap, summary),
        "fine_tuning": fine_tuning_section(
            fine_tuning, summary, (analyses or {}).get("significance")
        ),
        "reranking": (
            reranking_section(**reranking, significance=(analyses or {}).get("significance"))
            if reranking
            else None
        ),
        "analyses": (
            analyses_section(**analyses, bases=fine_tuned_bases(fine_tuning)) if analyses else None
        ),
    }
    return _environment().get_template(TEMPLATE).render(**context)


def fine_tuned_bases(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Fine-tuned system -> its base encoder, from the training records."""
    return {str(record["name"]): str(record["base"]["name"]) for record in records}


def sampled_systems(reranking: Mapping[str, Any] | None) -> set[str]:
    """The re-ranked systems when the re-ranking stage scored a sample of the queries
    (`queries_per_language` set), else none."""
    if not reranking or not reranking["settings"].get("queries_per_language"):
        return set()
    return {str(run["system"]) for run in reranking["runs"]}


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("clirbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Every part renders exactly what its file holds, final newline included, so an
        # {% include %} line stands for the part's lines.
        keep_trailing_newline=True,
    )
    environment.filters["condition_label"] = condition_label
    return environment
