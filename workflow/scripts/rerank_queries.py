import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.rerank.rules import reranked_queries

start_logging()
reranked_queries(
    Path(snakemake.input[0]),
    snakemake.params.per_language,
    snakemake.params.seed,
    Path(snakemake.output[0]),
)
