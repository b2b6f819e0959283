from pathlib import Path

from clirbench.stages import embed_table, load_settings, start_logging

start_logging(snakemake.log[0])
embed_table(
    Path(snakemake.input[0]),
    snakemake.params.kind,
    snakemake.wildcards.encoder,
    load_settings(snakemake.params.encoder),
    Path(snakemake.params.cache),
    Path(snakemake.output[0]),
    snakemake.threads,
    snakemake.params.get("query_split", "all"),
)
