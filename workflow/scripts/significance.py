import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.analyse.rules import significance, significance_settings
from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings

start_logging()
systems = snakemake.params.systems
settings = load_settings(snakemake.params.settings)
significance(
    snakemake.wildcards.dataset,
    snakemake.wildcards.condition,
    dict(zip(systems["names"], map(Path, snakemake.input.per_query), strict=True)),
    systems["first_stages"],
    systems["baselines"],
    settings["significance"]["metrics"],
    significance_settings(settings),
    Path(snakemake.output.comparisons),
    Path(snakemake.output.intervals),
    bases=systems["bases"],
)
