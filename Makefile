# Everyday commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: install run test lint format js js-check bench mutate clean

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

test: lint js-check
	$(BIN)/pytest --cov

# The banner script: static/js/src/*.js bundled by esbuild (pinned in package-lock.json) into
# static/js/consent.js, which is committed so that `make run` needs no Node.
ESBUILD := node_modules/.bin/esbuild
BUNDLE_FLAGS := static/js/src/main.js --bundle --minify --format=iife --target=es2019 \
	--charset=utf8 --legal-comments=none --log-level=warning

$(ESBUILD): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

js: $(ESBUILD)
	$(ESBUILD) $(BUNDLE_FLAGS) --outfile=static/js/consent.js

# Fails when the committed bundle is not what the sources build (edit, then `make js`).
js-check: $(ESBUILD)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(ESBUILD) $(BUNDLE_FLAGS) --outfile="$$tmp/consent.js" && \
	cmp -s "$$tmp/consent.js" static/js/consent.js || \
	{ echo "static/js/consent.js is stale: run 'make js' and commit it"; exit 1; }
	node --test --test-reporter=dot static/js/test/

bench: install
	$(BIN)/python -m bench.shipper
	$(BIN)/python -m bench.consent_api
	$(BIN)/python -m bench.instructions
	$(BIN)/python -m bench.mint
	$(BIN)/python -m bench.pixel
	$(BIN)/python -m bench.pixel --in-process
	$(BIN)/python -m bench.rollups
	$(BIN)/python -m bench.classify

# Mutation testing (not part of `make test`): the modules and tests are listed in setup.cfg
# [mutmut]. mutants/ is rebuilt each time: mutmut never refreshes its copies of the files it
# does not mutate. About 1.5 h on two cores, most of it events/ (consent/ and core/: ~40 min).
mutate: install
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results
	$(BIN)/python tests/mutmut_report.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache .coverage node_modules
