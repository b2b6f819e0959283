# clirbench: a cross-lingual retrieval study, from data to report.
#   snakemake --cores 2                      the offline demo (config/config.yaml)
#   snakemake --configfile config/other.yaml --cores 2
import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version

from clirbench.core.settings import (
    ConfigError,
    StudySettings,
    canonical_json,
    checked_config,
    config_source,
)
from clirbench.startup_checks import Environment, startup_problems
from clirbench.core.systems import SYSTEM_KINDS, Study, wildcard_regex

min_version("9.0")

# envs/*.post-deploy.sh install this checkout into each conda env (--use-conda).
os.environ.setdefault("CLIRBENCH_ROOT", workflow.basedir)


# A --configfile replaces the demo config rather than merging into it, so a study names
# exactly the datasets and models it runs; --config key=value still overrides either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The schema checks every key and fills in every default; the rest reads typed settings.
# A mistake is one line naming the key and the file (snakemake.utils.validate would print
# the whole schema and config after it).
CONFIG_SOURCE = config_source(
    workflow.overwrite_configfiles or ["config/config.yaml"],
    overridden=bool(workflow.config_settings.config),
)
try:
    config.update(checked_config(config, CONFIG_SOURCE))
except ConfigError as error:
    raise WorkflowError(str(error)) from None
SETTINGS = StudySettings.from_config(config)
STUDY = Study(SETTINGS)
OUT = SETTINGS.output_root

# Every problem at once, before any job runs (and in a dry run): stages that are not built,
# and, in the main process (a job's own start-up need not look again), models, files and
# language codes the config names that are not there.
ENVIRONMENT = Environment(
    # Under --use-conda the backends and pkg: models live in the rules' environments.
    packages_here=not workflow.deployment_settings.deployment_method,
    dry_run=bool(workflow.output_settings and workflow.output_settings.dryrun),
)
NOTICES, ERRORS = startup_problems(STUDY, ENVIRONMENT if workflow.is_main_process else None)
if ERRORS:
    raise WorkflowError(str(ConfigError(ERRORS, CONFIG_SOURCE)))
if workflow.is_main_process:
    for notice in NOTICES:
        logger.warning(f"clirbench: {notice}")


# Wildcards match only the names the study declares, so no two rules compete for a path.
wildcard_constraints:
    dataset=wildcard_regex(STUDY.datasets),
    condition=wildcard_regex(STUDY.condition_names),
    kind=wildcard_regex(SYSTEM_KINDS),
    system=wildcard_regex(STUDY.systems),
    encoder=wildcard_regex(STUDY.encoders_in_use()),


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/retrieve.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


set_aside_damaged_outputs()


rule all:
    input:
        get_final_output(),
    default_target: True
