import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.translate.rules import pilot_score

start_logging()
pilot_score(
    [Path(path) for path in snakemake.input],
    load_settings(snakemake.params.fluency_lm),
    load_settings(snakemake.params.adequacy_encoder),
    snakemake.threads,
    Path(snakemake.output[0]),
)
