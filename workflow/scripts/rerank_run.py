import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings, score_cache_folder
from clirbench.rerank.rules import rerank_run

start_logging()
rerank_run(
    snakemake.wildcards.system,
    Path(snakemake.input.run),
    Path(snakemake.input.docs),
    Path(snakemake.input.queries),
    Path(snakemake.input.qrels),
    snakemake.params.relevance_threshold,
    Path(snakemake.input.model),
    Path(snakemake.input.record),
    load_settings(snakemake.params.settings),
    # From the config, not params: where the cache lives changes no result, so moving it
    # must not re-run the re-ranking jobs (params are a rerun trigger).
    score_cache_folder(snakemake.config["score_cache"]),
    Path(snakemake.output.run),
    Path(snakemake.output.injected),
    snakemake.threads,
)
