import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.ann.rules import hnsw_index
from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings

start_logging()
hnsw_index(
    load_settings(snakemake.params.encoder),
    load_settings(snakemake.params.stage),
    Path(snakemake.input.doc_vectors),
    Path(snakemake.params.store),
    Path(snakemake.output.index),
    Path(snakemake.output.meta),
)
