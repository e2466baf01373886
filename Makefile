# Two commands set up everything from nothing: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export FLWR_TELEMETRY_ENABLED := 0
export MPLBACKEND := Agg

.PHONY: install demo test test-fast docs bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[all]"
	touch $(STAMP)

# runs/demo belongs to this target: a second `make demo` replaces it whole (--overwrite removes
# every file of the old run first), never a mix of two runs.
demo: install
	$(VENV)/bin/qrl train --config configs/cartpole_vqc_reinforce.yaml --episodes 300 --out runs/demo --overwrite

test: install
	$(PY) -m pytest -n 2 -q --durations=15

test-fast: install
	$(PY) -m pytest -n 2 -q -m "not learning and not notebook"

# The docs site (MkDocs-Material, API reference from the docstrings) into site/; strict:
# a broken reference or a malformed docstring fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --clean

clean:
	rm -rf $(VENV) runs site
