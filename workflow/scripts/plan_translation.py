import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.translate.rules import plan_translation

start_logging()
plan_translation(
    Path(snakemake.input.docs),
    snakemake.wildcards.translator,
    load_settings(snakemake.params.translator),
    snakemake.params.chunk_size,
    snakemake.params.untranslatable,
    Path(snakemake.output[0]),
)
