import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.translate.rules import pilot_sample

start_logging()
pilot_sample(
    [Path(path) for path in snakemake.input.docs],
    [Path(path) for path in snakemake.input.reference_english],
    snakemake.params.languages,
    snakemake.params.per_language,
    snakemake.params.seed,
    Path(snakemake.output[0]),
)
