VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test oracle lint format bench bench-compare revision clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/seed_ml.py

# CI (.ci/run) calls this: lint and type checks first, then the whole suite.
# For a quick local run skip the slow tests: $(PY) -m pytest -q -m "not slow"
test: $(STAMP) lint
	$(PY) -m pytest -q

# The differential reuse oracle run long, known holes included, counting every mismatch
# (tests/oracle; the log holds each mismatching workflow, its edit and the decisions).
ORACLE_EXAMPLES ?= 400
ORACLE_LOG ?= oracle-mismatches.log
oracle: $(STAMP)
	rm -f $(ORACLE_LOG) $(basename $(ORACLE_LOG)).counts
	VALENCE_ORACLE_EXAMPLES=$(ORACLE_EXAMPLES) VALENCE_ORACLE_HOLES=1 VALENCE_ORACLE_KEEP_GOING=1 \
		VALENCE_ORACLE_LOG=$(ORACLE_LOG) \
		$(PY) -m pytest -q -p no:randomly -p no:cacheprovider --timeout=0 tests/oracle

lint: $(STAMP)
	$(VENV)/bin/ruff check valence tests benchmarks examples checks
	$(VENV)/bin/ruff format --check valence tests benchmarks examples checks
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format valence tests benchmarks examples checks
	$(VENV)/bin/ruff check --fix valence tests benchmarks examples checks

# Every benchmark script in a quick mode; figures, table and plot under docs/benchmarks/.
# BENCH_ARGS=--full for the scripts' own sizes, BENCH_ARGS="--only startup,overhead" for a subset.
bench: $(STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# Competitors for the comparisons, in their own venv (never valence dependencies).
COMPARE := benchmarks/.venv-compare
bench-compare:
	test -x $(COMPARE)/bin/python || python3 -m venv $(COMPARE)
	$(COMPARE)/bin/python -m pip install -q "prefect>=3,<4"

revision: $(STAMP)
	cd valence/store && ../../$(VENV)/bin/alembic -c alembic.ini revision --autogenerate -m "$(m)"

clean:
	rm -rf $(VENV) build dist *.egg-info
