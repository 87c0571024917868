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

.PHONY: setup dot report test notebooks data bench lock clean

## setup: create .venv when absent, install the locked environment and the package, make sure `dot` exists
setup: $(STAMP) dot

# requirements.lock pins (with hashes) every package that produced the committed notebook outputs;
# the package itself goes on top without touching them.
$(STAMP): lib/pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "No python3.11 or python3 on PATH: install Python >= 3.11 first." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e lib
	$(PY) -m pip check
	@touch $(STAMP)

## lock: re-resolve requirements.lock from lib/pyproject.toml (keeps current pins that still fit;
## `make lock UPGRADE=--upgrade` takes the newest), then run `make notebooks` and `make test`
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "uv>=0.9"
	$(VENV)/bin/uv pip compile lib/pyproject.toml --extra dev --generate-hashes --universal \
	  --python-version 3.11 $(UPGRADE) -o requirements.lock

## dot: the graphviz `dot` program draws the path diagrams; install it from the system packages when we can
dot:
	@command -v dot >/dev/null 2>&1 || bash scripts/install_graphviz.sh

## report: execute every notebook (in memory, committed copies untouched) and write reports/report.html,
## closed by the study's key results (notebooks/study.py hands them to the generic builder masem.report)
report: setup
	$(PY) notebooks/study.py --notebooks notebooks --out reports/report.html

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
