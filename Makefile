# Everyday commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: install run test lint format bench mutate clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/consentry db upgrade
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest --cov

bench: install
	$(BIN)/python -m bench.shipper
	$(BIN)/python -m bench.consent_api
	$(BIN)/python -m bench.instructions
	$(BIN)/python -m bench.mint

# Mutation testing (not part of `make test`): the modules and tests are listed in setup.cfg
# [mutmut]. mutants/ is rebuilt each time: mutmut never refreshes its copies of the files it
# does not mutate. About 1.5 h on two cores, most of it events/ (consent/ and core/: ~40 min).
mutate: install
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results
	$(BIN)/python tests/mutmut_report.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache .coverage
