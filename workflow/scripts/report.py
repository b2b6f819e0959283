from pathlib import Path

from clirbench.stages import load_settings, report, start_logging

start_logging(snakemake.log[0])
report(
    Path(snakemake.input.summary),
    [Path(path).parent for path in snakemake.input.datasets],
    load_settings(snakemake.params.config),
    Path(snakemake.params.benchmarks),
    Path(snakemake.output[0]),
)
