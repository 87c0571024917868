# masem-empowerment: the two commands are `make report` and `make test` (see README.md).
# Everything else here is a step of those two or a maintenance task.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Small matrices run several times faster single-threaded; also keeps results bit-stable.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PYTHONHASHSEED := 0

.PHONY: setup dot report test notebooks data bench clean

## setup: create .venv when absent, install the package with its test extras, make sure `dot` exists
setup: $(STAMP) dot

$(STAMP): lib/pyproject.toml
	@test -n "$(PYTHON)" || { echo "No python3.11 or python3 on PATH: install Python >= 3.11 first." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e "lib[dev]"
	@touch $(STAMP)

## dot: the graphviz `dot` program draws the path diagrams; install it from the system packages when we can
dot:
	@command -v dot >/dev/null 2>&1 || bash scripts/install_graphviz.sh

## report: execute every notebook (in memory, committed copies untouched) and write reports/report.html
report: setup
	$(PY) -m masem.report --notebooks notebooks --out reports/report.html

## test: unit, property and reference-conformance tests, the docstring examples, and nbval over every notebook
test: setup
	$(PY) -m pytest tests lib/masem notebooks --doctest-modules --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg

## notebooks: re-execute the committed notebooks and save their outputs (after a change to lib/ or a notebook)
notebooks: setup
	cd notebooks && for nb in [0-9][0-9]_*.ipynb; do \
	  echo "executing $$nb"; \
	  ../$(PY) -m jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False "$$nb" || exit 1; \
	done

## data: regenerate the simulated study database in data/ (byte for byte identical with the same seed)
data: setup
	$(PY) scripts/make_data.py

## bench: timing and scaling benchmarks; results in benchmarks/results/
bench: setup
	$(PY) benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) reports .pytest_cache
