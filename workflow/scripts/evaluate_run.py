from pathlib import Path

from clirbench.stages import evaluate, start_logging

start_logging(snakemake.log[0])
evaluate(
    Path(snakemake.input.run),
    Path(snakemake.input.qrels),
    Path(snakemake.input.queries),
    Path(snakemake.input.docs),
    snakemake.params.relevance_threshold,
    snakemake.params.query_split,
    Path(snakemake.output.per_query),
    Path(snakemake.output.pairs),
)
