import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.report.rules import ANALYSIS_TABLES, report

start_logging()
report(
    Path(snakemake.input.summary),
    [Path(path) for path in snakemake.input.dataset_counts],
    [Path(path) for path in snakemake.input.benchmarks],
    load_settings(snakemake.params.metadata),
    Path(snakemake.output.html),
    pilot_summary=Path(snakemake.input.pilot[0]) if snakemake.input.pilot else None,
    pilot_documents=Path(snakemake.input.pilot[1]) if snakemake.input.pilot else None,
    translation_summaries={
        (dataset, condition): Path(path)
        for (dataset, condition), path in zip(
            snakemake.params.translation_labels, snakemake.input.translation_summaries
        )
    },
    ann_efficiency=[Path(path) for path in snakemake.input.ann_efficiency],
    ann_overlap=[Path(path) for path in snakemake.input.ann_overlap],
    fine_tuning=[Path(path) for path in snakemake.input.fine_tuning],
    reranking={
        "records": snakemake.input.reranking,
        "metrics": snakemake.input.reranked_metrics,
        "first_stage_metrics": snakemake.input.first_stage_metrics,
        "queries": snakemake.input.reranked_queries,
        "injected_table": snakemake.input.injected,
        **load_settings(snakemake.params.reranking),
    },
    analyses={
        **{name: getattr(snakemake.input, name) for name in ANALYSIS_TABLES},
        "settings": load_settings(snakemake.params.significance).get("significance", {}),
    },
    tables_out=Path(snakemake.output.tables),
    models=Path(snakemake.input.models[0]),
    run_coverage=Path(snakemake.input.run_coverage),
)
