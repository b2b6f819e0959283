import sys

# The job log receives standard error before the library is imported, so that an import
# error is logged too.
sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job

from pathlib import Path

from clirbench.core.joblog import start_logging
from clirbench.core.settings import embedding_cache_folder, load_settings
from clirbench.embed.rules import embed_table

start_logging()
wildcards = snakemake.wildcards
texts = f"docs ({wildcards.condition})" if "condition" in wildcards.keys() else "queries"
embed_table(
    Path(snakemake.input.table),
    snakemake.params.kind,
    snakemake.wildcards.encoder,
    load_settings(snakemake.params.encoder),
    # From the config, not params: where the cache lives changes no result, so moving it
    # must not re-run the embedding jobs (params are a rerun trigger).
    embedding_cache_folder(snakemake.config["embedding_cache"]),
    Path(snakemake.output[0]),
    snakemake.threads,
    model_check=(
        (Path(snakemake.input.model), Path(snakemake.input.model_record))
        if "model_record" in snakemake.input.keys()
        else None
    ),
    # The console's progress lines: which job is moving.
    label=f"{wildcards.encoder} {wildcards.dataset} {texts}",
)
