import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.data.rules import split_queries

start_logging()
split_queries(
    Path(snakemake.input.queries),
    Path(snakemake.input.qrels),
    snakemake.params.query_split,
    snakemake.params.relevance_threshold,
    {name: Path(path) for name, path in snakemake.output.items()},
)
