# Two entry points: `make reproduce` (install + main job) and `make test` (install + lint + tests).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch that lies on the machine's disk and its torchvision (models, transforms.v2;
# bsam.vision imports it even though that wheel was built against CUDA torch); never let pip
# resolve an open range.
TORCH ?= torch==2.13.0 torchvision==0.28.0

.PHONY: install reproduce test lint bench clean readme-figures

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[test]" $(TORCH)
	touch $@

install: $(VENV)/.installed

reproduce: install
	$(BIN)/bsam reproduce $(ARGS)

test: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# ruff, then import-linter's layers contract (pyproject.toml [tool.importlinter]):
# imports point down only, analyses -> landscape -> bsam.
# The README's figures, from the full default run (run `make reproduce` first).
readme-figures:
	mkdir -p docs/images
	for f in figure1 figure1_rise flatness_regions sharpness_methods; do \
		cp results/reproduce/figures/$$f.png docs/images/$$f.png || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: install
	mkdir -p bench/out
	for b in bench/bench_*.py; do $(BIN)/python $$b --json bench/out/$$(basename $$b .py).json || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
