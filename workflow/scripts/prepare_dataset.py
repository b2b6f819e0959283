from pathlib import Path

from clirbench.stages import load_settings, prepare_dataset, start_logging

start_logging(snakemake.log[0])
prepare_dataset(
    snakemake.wildcards.dataset,
    load_settings(snakemake.params.settings),
    Path(snakemake.output.docs).parent,
    Path(snakemake.params.download_folder),
)
