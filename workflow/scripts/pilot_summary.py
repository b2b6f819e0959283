import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.translate.rules import pilot_summary

start_logging()
pilot_summary(
    [Path(snakemake.input.scores)],
    [Path(path) for path in snakemake.input.comet],
    Path(snakemake.output.documents),
    Path(snakemake.output.summary),
)
