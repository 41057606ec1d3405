# gatebook developer tasks. `make lint` then `make test` is what CI runs (see .ci/run).
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv test demo bench lint clean

venv: $(VENV)/.stamp

# Re-installs only when pyproject.toml changes (or the venv is missing).
$(VENV)/.stamp: pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $@

$(VENV)/.bench-stamp: $(VENV)/.stamp pyproject.toml
	$(VPY) -m pip install -q -e '.[bench]'
	@touch $@

# PyTorch is not a dependency of gatebook; the tests use it to check 0-d tensors are accepted.
# The exact pin takes the CPU wheel (a range would pull a multi-GB CUDA build).
$(VENV)/.torch-stamp: $(VENV)/.stamp
	$(VPY) -c "import torch" 2>/dev/null || $(VPY) -m pip install -q torch==2.13.0
	@touch $@

# tests/browser drive Debian's Chromium through Playwright (never `playwright install`):
# ensure-chromium.sh installs Debian's package when it is missing (root or sudo), as
# ensure-postgres.sh does for PostgreSQL.
# The framework hooks' and importers' tests run the real frameworks on tiny models (CPU torch).
$(VENV)/.frameworks-stamp: $(VENV)/.torch-stamp pyproject.toml
	$(VPY) -m pip install -q -e '.[lightning,transformers,keras,tensorboard,mlflow,optuna]' torch==2.13.0
	@touch $@

test: venv $(VENV)/.torch-stamp $(VENV)/.frameworks-stamp
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	$(VPY) -m pytest -q $(PYTEST_ARGS)

demo: venv
	bash examples/demo.sh

bench: venv $(VENV)/.bench-stamp
	bash scripts/ensure-chromium.sh
	$(VPY) benchmarks/run_all.py

# ruff (rules in pyproject.toml) and mypy (check_untyped_defs; files and options in pyproject.toml).
lint: venv
	$(VPY) -m ruff check src tests
	$(VPY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
