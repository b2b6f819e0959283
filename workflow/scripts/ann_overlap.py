import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.ann.rules import ann_overlap
from clirbench.core.joblog import start_logging

start_logging()
ann_overlap(
    snakemake.wildcards.dataset,
    [dict(labels) for labels in snakemake.params.pairs],
    [Path(path) for path in snakemake.input.exact_runs],
    [Path(path) for path in snakemake.input.hnsw_runs],
    [Path(path) for path in snakemake.input.exact_units],
    Path(snakemake.input.docs),
    Path(snakemake.output[0]),
)
