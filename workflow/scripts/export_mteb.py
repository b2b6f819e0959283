import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings
from clirbench.report.mteb_export import export_mteb_files

start_logging()
export_mteb_files(
    Path(snakemake.input.summary),
    Path(snakemake.input.models),
    load_settings(snakemake.params.systems),
    Path(snakemake.output[0]),
    snakemake.params.top_k,
    [Path(path) for path in snakemake.input.dataset_counts],
)
