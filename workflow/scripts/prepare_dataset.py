import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.data.rules import prepare_dataset

start_logging()
prepare_dataset(
    snakemake.wildcards.dataset,
    load_settings(snakemake.params.settings),
    Path(snakemake.output.docs).parent,
    Path(snakemake.params.download_folder),
)
