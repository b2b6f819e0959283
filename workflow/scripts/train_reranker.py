import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job
sys.stdout = sys.stderr  # the trainer prints each epoch's losses: into the log too

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.rerank.rules import train_reranker

start_logging()
train_reranker(
    load_settings(snakemake.params.reranker),
    snakemake.wildcards.dataset,
    load_settings(snakemake.params.training),
    Path(snakemake.input[0]),
    Path(snakemake.output.model),
    Path(snakemake.output.record),
    snakemake.threads,
)
