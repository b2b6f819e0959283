import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.finetune.rules import fine_tuning_pairs

start_logging()
fine_tuning_pairs(
    load_settings(snakemake.params.model),
    snakemake.wildcards.scope,
    load_settings(snakemake.params.training),
    load_settings(snakemake.params.tables),
    load_settings(snakemake.params.evaluated),
    Path(snakemake.params.download_folder),
    Path(snakemake.output.train),
    Path(snakemake.output.validation),
    Path(snakemake.output.validation_pool),
    Path(snakemake.output.validation_qrels),
)
