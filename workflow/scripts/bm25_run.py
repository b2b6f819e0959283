from pathlib import Path

from clirbench.stages import bm25_run, load_settings, start_logging

start_logging(snakemake.log[0])
bm25_run(
    snakemake.wildcards.system,
    load_settings(snakemake.params.settings),
    Path(snakemake.input.docs),
    Path(snakemake.input.queries),
    snakemake.params.query_split,
    snakemake.params.top_k,
    Path(snakemake.output[0]),
    snakemake.threads,
)
