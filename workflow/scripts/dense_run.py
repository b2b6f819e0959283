from pathlib import Path

from clirbench.stages import dense_run, start_logging

start_logging(snakemake.log[0])
dense_run(
    snakemake.wildcards.encoder,
    Path(snakemake.input.docs),
    Path(snakemake.input.queries),
    Path(snakemake.input.doc_vectors),
    Path(snakemake.input.query_vectors),
    snakemake.params.query_split,
    snakemake.params.top_k,
    Path(snakemake.output[0]),
)
