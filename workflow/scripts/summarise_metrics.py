from pathlib import Path

from clirbench.stages import start_logging, summarise

start_logging(snakemake.log[0])
summarise(
    [Path(path) for path in snakemake.input],
    Path(snakemake.input[0]).parents[2],
    Path(snakemake.output[0]),
)
