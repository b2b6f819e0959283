import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.rerank.rules import reranker_pairs

start_logging()
reranker_pairs(
    load_settings(snakemake.params.reranker),
    snakemake.wildcards.dataset,
    load_settings(snakemake.params.training),
    load_settings(snakemake.params.tables),
    load_settings(snakemake.params.evaluated),
    load_settings(snakemake.params.bm25),
    Path(snakemake.params.download_folder),
    Path(snakemake.output[0]),
    snakemake.threads,
)
