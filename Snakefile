# clirbench: a cross-lingual retrieval study, from data to report.
#   snakemake --cores 2                      the offline demo (config/config.yaml)
#   snakemake --configfile config/other.yaml --cores 2
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, validate

min_version("9.0")

# The library lives in src/; jobs (local or SLURM) inherit PYTHONPATH from this process.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from clirbench.config import (
    canonical_json,
    conditions_of,
    dataset_settings,
    planned_stage_messages,
    relevance_threshold,
    system_names,
    uses_gpu,
)


# A --configfile replaces the demo config rather than merging into it, so a study names
# exactly the datasets and models it runs; --config key=value still overrides either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



validate(config, "workflow/schemas/config.schema.yaml")

NOTICES, ERRORS = planned_stage_messages(config)
if ERRORS:
    raise WorkflowError("\n".join(ERRORS))
if workflow.is_main_process:
    for notice in NOTICES:
        logger.warning(f"clirbench: {notice}")

OUT = f"{config['results_dir']}/{config['experiment']}"
DATASETS = sorted(config["datasets"])
SYSTEMS = system_names(config)


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    condition="original|translated",


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/retrieve.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        f"{OUT}/report.html",
    default_target: True
