import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.evaluate.rules import evaluate

start_logging()
evaluate(
    Path(snakemake.input.run),
    Path(snakemake.input.qrels),
    Path(snakemake.input.queries),
    Path(snakemake.input.docs),
    snakemake.params.relevance_threshold,
    snakemake.params.unit,
    Path(snakemake.output.per_query),
    Path(snakemake.output.pairs),
    Path(snakemake.output.coverage),
)
