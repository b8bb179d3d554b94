# dl2: every target sets up .venv on a fresh machine (python3 -m venv + pip install -e ".[dev]").
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dl2-installed
# The datasets: $DL2_DATA if set, else ../shared/data when it exists, else dl2's default (~/.cache/dl2).
ifneq ($(wildcard ../shared/data),)
export DL2_DATA ?= $(abspath ../shared/data)
endif

.PHONY: test train airbench docs readme export bench help

help:
	@echo "make train  - the main job: LeNet-5 on CIFAR-10 (dl2-train with its defaults) into runs/lenet5-cifar10, with model.onnx"
	@echo "make airbench - the capstone: airbench's recipe on CIFAR-10 (dl2-airbench, 20-30 minutes on 2 cores) into runs/airbench"
	@echo "make test   - the full check: nbdev-clean, nbdev-export, nbdev-test, pytest"
	@echo "make docs   - render the book into docs/ with Quarto; without Quarto, an HTML preview (tools/preview.py)"
	@echo "make bench  - the benchmark table (dl2 vs PyTorch when installed)"
	@echo "make readme - write README.md from nbs/index.ipynb (what nbdev-readme does with Quarto)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

# Fingerprint of a set of files (content + names), to see whether a tool changed any of them.
fingerprint = find $(1) -type f $(2) -print0 | sort -z | xargs -0 sha1sum | sha1sum

test: $(STAMP)
	@set -eo pipefail; \
	export NUMBA_CACHE_DIR=$$(mktemp -d); trap 'rm -rf "$$NUMBA_CACHE_DIR"' EXIT; \
	echo "== nbdev-clean"; \
	before=$$($(call fingerprint,nbs,-name '*.ipynb')); \
	$(BIN)/nbdev-clean; \
	after=$$($(call fingerprint,nbs,-name '*.ipynb')); \
	if [ "$$before" != "$$after" ]; then echo "FAIL: nbdev-clean changed notebooks (run nbdev-clean and commit):"; git status --short nbs; exit 1; fi; \
	echo "== nbdev-export"; \
	before=$$($(call fingerprint,dl2,-name '*.py')); \
	$(BIN)/nbdev-export; \
	after=$$($(call fingerprint,dl2,-name '*.py')); \
	if [ "$$before" != "$$after" ]; then echo "FAIL: nbdev-export changed dl2/ (notebooks and package out of sync):"; git status --short dl2; exit 1; fi; \
	echo "== nbdev-test"; \
	$(BIN)/nbdev-test --n-workers 2; \
	echo "== pytest"; \
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

train: $(STAMP)
	$(BIN)/dl2-train --out runs/lenet5-cifar10 --export-onnx

airbench: $(STAMP)
	$(BIN)/dl2-airbench --out runs/airbench --export-onnx

readme: $(STAMP)
	$(BIN)/python tools/readme.py

export: $(STAMP)
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export

bench: $(STAMP)
	$(BIN)/python -m dl2.bench

docs: $(STAMP)
	@if command -v quarto >/dev/null 2>&1; then \
		$(BIN)/nbdev-docs; \
	else \
		echo "make docs: Quarto is not installed (https://quarto.org/docs/get-started/), so this builds a preview:"; \
		echo "the notebooks as Quarto would receive them (nbdev's processing), rendered to HTML by nbconvert."; \
		$(BIN)/python tools/preview.py; \
	fi
