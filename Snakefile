# clirbench: a cross-lingual retrieval study, from data to report.
#   snakemake --cores 2                      the offline demo (config/config.yaml)
#   snakemake --configfile config/other.yaml --cores 2
import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version

from clirbench.core.config_validation import ConfigError
from clirbench.core.settings import canonical_json
from clirbench.core.systems import SYSTEM_KINDS, wildcard_regex
from clirbench.startup_checks import start_study

min_version("9.0")

# envs/*.post-deploy.sh install this checkout into each conda env (--use-conda).
os.environ.setdefault("CLIRBENCH_ROOT", workflow.basedir)


# A --configfile replaces the demo config rather than merging into it, so a study names
# exactly the datasets and models it runs; --config key=value still overrides either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The schema checks every key and fills in every default; the rest reads typed settings.
# Every problem at once, one line each naming its key, before any job runs (and in a dry
# run): a config mistake, a model, file or language code the config names that is not there.
try:
    SETTINGS, STUDY, NOTICES = start_study(config, workflow)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
OUT = SETTINGS.output_root
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
    translator=wildcard_regex(STUDY.translators_in_use),
    pilot_system=wildcard_regex(SETTINGS.pilot.get("systems", [])),
    model=wildcard_regex(STUDY.fine_tuned),
    reranker=wildcard_regex(STUDY.rerankers),
    scope=wildcard_regex({scope for model in STUDY.fine_tuned.values() for scope in model.scopes}),
    lang="[a-z]{2,3}(-[A-Za-z]+)?",
    chunk="[0-9]+",


# The Snakemake report's (`--report`) description of the workflow; its results are the
# outputs marked with report(...): the page, its tables, summary.csv.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/retrieve.smk"
include: "workflow/rules/ann.smk"
include: "workflow/rules/rerank.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/report.smk"


set_aside_damaged_outputs()


rule all:
    input:
        get_final_output,
    default_target: True
