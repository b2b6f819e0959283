import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.evaluate.rules import summarise

start_logging()
summarise(
    [tuple(labels) for labels in snakemake.params.runs],
    [Path(path) for path in snakemake.input.pairs],
    Path(snakemake.output.summary),
    [Path(path) for path in snakemake.input.coverage],
    Path(snakemake.output.coverage),
)
