# Two commands on a fresh machine:
#   make demo   set up, run the whole workflow on the offline demo, print where the report is
#   make test   set up, run the test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= all
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo resume test bench readme clean clean-cache

setup: $(VENV)/.installed

# torch is pinned in pyproject; installing it first takes the CPU build (a plain `torch`
# requirement would pull a multi-GB CUDA build).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES) $(ARGS)
	@echo "Report: $(CURDIR)/results/demo/report.html"

# After a run was killed: checks that no run is alive here, unlocks, re-runs unfinished jobs.
# Pass a study's arguments in ARGS, e.g. make resume ARGS="--configfile my-study.yaml".
resume: setup
	$(BIN)/python tools/resume.py --cores $(CORES) $(ARGS)

test: setup
	$(BIN)/python -m mypy src/clirbench
	$(BIN)/python -m pytest -q -ra

bench: setup
	$(BIN)/python benchmarks/run.py

readme: setup
	$(BIN)/python tools/update_readme.py

# Every experiment's outputs; the embedding cache lives elsewhere (make clean-cache).
clean:
	rm -rf results .snakemake

clean-cache: setup
	rm -rf "$$($(BIN)/python -c 'from clirbench.core.settings import user_cache_folder as f; print(f() / "embeddings")')"
