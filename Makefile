VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench revision clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/seed_ml.py

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check valence tests benchmarks examples checks
	$(VENV)/bin/ruff format --check valence tests benchmarks examples checks

format: $(STAMP)
	$(VENV)/bin/ruff format valence tests benchmarks examples checks
	$(VENV)/bin/ruff check --fix valence tests benchmarks examples checks

bench: $(STAMP)
	$(PY) benchmarks/overhead.py

revision: $(STAMP)
	cd valence/store && ../../$(VENV)/bin/alembic -c alembic.ini revision --autogenerate -m "$(m)"

clean:
	rm -rf $(VENV) build dist *.egg-info
