import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.candidate_groups import group_tables
from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.retrieve.rules import bm25_run

start_logging()
bm25_run(
    snakemake.wildcards.system,
    load_settings(snakemake.params.settings),
    Path(snakemake.input.docs),
    Path(snakemake.input.queries),
    snakemake.params.top_k,
    Path(snakemake.output[0]),
    snakemake.threads,
    group_tables(snakemake.input.get("doc_groups"), snakemake.input.get("query_groups")),
)
