import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.provenance.rules import describe_models

start_logging()
describe_models(
    load_settings(snakemake.params.models)["models"], Path(snakemake.output[0]), snakemake.threads
)
