import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import load_settings, translation_cache_folder
from clirbench.translate.rules import pilot_translate

start_logging()
pilot_translate(
    Path(snakemake.input[0]),
    snakemake.wildcards.pilot_system,
    load_settings(snakemake.params.translator),
    snakemake.threads,
    # From the config, not params: where the cache lives changes no result.
    translation_cache_folder(snakemake.config["translation_cache"]),
    Path(snakemake.output[0]),
)
