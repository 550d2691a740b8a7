# cardiomm: two commands do everything on a fresh machine (Python 3.11, no GPU needed).
#   make run   - create .venv, install the pinned stack, run the whole default workflow (synthetic cohort)
#   make test  - same install, then the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
COHORT ?= synthetic
SMK_ARGS ?=

.PHONY: run test install lint report train weights test-slurm clean-results

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (cardiomm needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# nnU-Net v2 (optional segmenter) for the tests that exercise it; --no-deps: see requirements-nnunet.txt
NNUNET_STAMP := $(VENV)/.installed-nnunet
$(NNUNET_STAMP): requirements-nnunet.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nnunet.txt
	touch $(NNUNET_STAMP)

install: $(STAMP)

run: $(STAMP)
	@# an interrupted run leaves a Snakemake lock: remove it only if no Snakemake is running in this folder.
	@# A Snakemake process has an argument `snakemake` or `.../snakemake`; this recipe's own shell, whose
	@# command line merely mentions the word, does not.
	@if [ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ]; then \
	  busy=0; for p in $$(pgrep -f snakemake); do \
	    [ "$$(readlink /proc/$$p/cwd)" = "$(CURDIR)" ] || continue; \
	    tr '\0' '\n' < /proc/$$p/cmdline 2>/dev/null | grep -qE '(^|/)snakemake$$' && busy=1; \
	  done; \
	  if [ $$busy = 0 ]; then echo "removing the stale lock of an interrupted run"; $(BIN)/snakemake --unlock; fi; \
	fi
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(SMK_ARGS)
	$(BIN)/snakemake --cores $(CORES) --report results/$(COHORT)/report.html $(SMK_ARGS)
	@echo "done: results/$(COHORT)/tables/, figures/, audit.md, report.html"

test: $(STAMP) $(NNUNET_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

train: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) train_all $(SMK_ARGS)

weights: $(STAMP)
	@# the segmenter and the networks this pipeline ships (cardiomm.methods.TRAINED); the published architectures
	@# only when trained (train.published)
	@for n in segmentation $$($(BIN)/python -c "from cardiomm.methods import TRAINED; print(*TRAINED)"); do \
	  cp results/training/$$n.pt results/training/$$n.md cardiomm/weights/; echo "copied $$n"; done
	@for n in $$($(BIN)/python -c "from cardiomm.methods import PUBLISHED_METHODS; print(*PUBLISHED_METHODS)"); do \
	  if [ -f results/training/$$n.pt ]; then cp results/training/$$n.pt results/training/$$n.md cardiomm/weights/; \
	  echo "copied $$n"; fi; done

test-slurm: $(STAMP)
	bash tests/slurm/run_slurm_test.sh

clean-results:
	rm -rf results/$(COHORT) .snakemake/incomplete
