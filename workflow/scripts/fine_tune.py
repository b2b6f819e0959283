import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job
sys.stdout = sys.stderr  # the trainer prints each epoch's loss and scores: into the log too

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.finetune.rules import fine_tune

start_logging()
fine_tune(
    load_settings(snakemake.params.model),
    snakemake.wildcards.scope,
    load_settings(snakemake.params.training),
    load_settings(snakemake.params.base),
    Path(snakemake.input.train),
    Path(snakemake.input.validation),
    load_settings(snakemake.params.retrieval),
    Path(snakemake.output.model),
    Path(snakemake.output.record),
    snakemake.threads,
)
