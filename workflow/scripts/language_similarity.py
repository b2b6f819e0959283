import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.analyse.rules import language_similarity
from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings

start_logging()
settings = load_settings(snakemake.params.settings)
language_similarity(
    Path(snakemake.input[0]),
    settings["metric"],
    settings["feature_sets"],
    Path(snakemake.output.similarities),
    Path(snakemake.output.correlations),
    Path(snakemake.output.matrix),
)
