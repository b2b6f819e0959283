import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.translate.rules import gather_translation

start_logging()
gather_translation(
    Path(snakemake.input.docs),
    Path(snakemake.input.plan),
    [Path(path) for path in snakemake.input.chunks],
    Path(snakemake.output.docs),
    Path(snakemake.output.summary),
)
