#!/usr/bin/env bash
# Installs this workflow's own library (the clirbench package, src/) into the conda env that
# Snakemake has just created from an envs/*.yaml. Snakemake runs the script named
# <env>.post-deploy.sh beside the env file: each of those is a link to this file.
#
# How Snakemake runs it (snakemake/deployment/conda.py, Snakemake 9): the script is copied to
# <conda prefix>/<env hash>.post-deploy.sh and run as `source activate <env>; bash <copy>`,
# in Snakemake's working directory. So $CONDA_PREFIX is the new env, but neither $0 nor the
# yaml's folder leads back to the repository (the yaml is copied too). The project is
# therefore taken from $CLIRBENCH_ROOT when set, else from the working directory: the
# repository root, where the workflow is run (`snakemake ...`, tests/workflow_runner.py).
set -euo pipefail

root="${CLIRBENCH_ROOT:-$PWD}"
if ! grep -Eq '^name = "clirbench"' "$root/pyproject.toml" 2>/dev/null; then
    echo "post-deploy: $root/pyproject.toml is not clirbench's; run Snakemake from the" \
        "repository root or set CLIRBENCH_ROOT to it." >&2
    exit 1
fi

# --no-deps: the env's yaml pins what this env's jobs import; pyproject.toml lists the packages
#   of every stage (torch, PyICU from source, ...), which must not land in every env.
# -e (editable): jobs import the working tree's src/, like their scripts in workflow/scripts.
#   Snakemake's env hash covers only the yaml and this script, not src/, so a regular
#   install would keep running the library as it was on the day the env was created.
"${CONDA_PREFIX:?not run inside an activated conda env}/bin/python" -m pip install \
    --no-deps --no-input --disable-pip-version-check --editable "$root"
