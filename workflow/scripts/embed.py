from pathlib import Path

from clirbench.stages import embed_table, load_settings, start_logging

start_logging(snakemake.log[0])
is_query = "queries" in snakemake.input.keys()
embed_table(
    Path(snakemake.input[0]),
    "query" if is_query else "document",
    snakemake.wildcards.encoder,
    load_settings(snakemake.params.encoder),
    Path(snakemake.params.cache),
    Path(snakemake.output[0]),
    snakemake.threads,
    snakemake.params.get("query_split", "all"),
)
