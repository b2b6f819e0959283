import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.evaluate.rules import count_dataset

start_logging()
count_dataset(
    Path(snakemake.input.docs).parent,
    snakemake.params.kind,
    Path(snakemake.input.queries),
    snakemake.params.relevance_threshold,
    snakemake.params.query_split,
    snakemake.params.pool_min_relevance,
    Path(snakemake.output[0]),
    snakemake.input.get("query_groups"),
)
