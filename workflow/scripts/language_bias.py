import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.analyse.rules import language_bias
from clirbench.core.joblog import start_logging

start_logging()
language_bias(
    snakemake.wildcards.dataset,
    snakemake.wildcards.condition,
    dict(zip(snakemake.params.systems["names"], map(Path, snakemake.input.runs), strict=True)),
    Path(snakemake.input.docs),
    Path(snakemake.input.queries),
    Path(snakemake.input.qrels),
    snakemake.params.relevance_threshold,
    Path(snakemake.output.shares),
    Path(snakemake.output.roles),
    Path(snakemake.output.languages),
    sampled=snakemake.params.systems["sampled"],
    sampled_queries_path=(
        Path(snakemake.input.sampled_queries[0]) if snakemake.input.sampled_queries else None
    ),
)
