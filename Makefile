# Two commands on a fresh machine:
#   make demo   set up, run the whole workflow on the offline demo, print where the report is
#   make test   set up, run the test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= all
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test bench readme clean

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
	$(BIN)/snakemake --cores $(CORES)
	@echo "Report: $(CURDIR)/results/demo/report.html"

test: setup
	$(BIN)/python -m mypy src/clirbench
	$(BIN)/python -m pytest -q -ra

bench: setup
	$(BIN)/python benchmarks/run.py

readme: setup
	$(BIN)/python tools/update_readme.py

clean:
	rm -rf results .snakemake
