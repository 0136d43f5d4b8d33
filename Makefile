# `make test` and `make demo` install what they need into .venv (uv, pinned by constraints.txt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's headless Chromium, for the browser test of Airflow's UI (tests/e2e/test_ui.py); Playwright drives it.
CHROMIUM := /usr/bin/chromium
# Debian's PostgreSQL and Redis, for the production topology of tests/e2e/test_deployment.py (the tests
# start and stop their own servers; the packages' system services are not used).
POSTGRES := $(or $(firstword $(wildcard /usr/lib/postgresql/*/bin/postgres)),/usr/lib/postgresql/15/bin/postgres)
REDIS := /usr/bin/redis-server
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install test lint typecheck docs unit demo bench matrix lock clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(PYTHON) -m uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

DEBIAN_PACKAGE_$(CHROMIUM) := chromium
DEBIAN_PACKAGE_$(POSTGRES) := postgresql
DEBIAN_PACKAGE_$(REDIS) := redis-server

$(CHROMIUM) $(POSTGRES) $(REDIS):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGE_$@)

install: $(STAMP) $(CHROMIUM) $(POSTGRES) $(REDIS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict

unit: $(STAMP)
	$(BIN)/pytest -m "not e2e"

# The documentation site (docs/), from scratch, warnings as errors, every cross-reference resolved
# (nitpicky); then every internal link and anchor of the HTML, and the README's relative links.
# No network: no intersphinx, external links are not fetched. Read it: docs/_build/html/index.html.
docs: $(STAMP)
	rm -rf docs/_build/html docs/api
	$(BIN)/sphinx-build -b html -E -n -W --keep-going -q docs docs/_build/html
	$(BIN)/python scripts/check_docs_links.py docs/_build/html

test: lint typecheck docs install
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python scripts/run_demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Every other Airflow minor and Python (scripts/matrix.py), each in a venv of its own under .matrix/.
matrix: $(STAMP)
	$(PYTHON) scripts/matrix.py run

# Re-pin the versions the tests run against: constraints.txt (Airflow 3.3, the newest index) and the
# lock of every older minor (constraints-airflow-3.*.txt).
lock:
	$(PYTHON) -m uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o constraints.txt
	$(PYTHON) scripts/matrix.py lock

clean:
	rm -rf $(VENV) .matrix .pytest_cache .mypy_cache .ruff_cache docs/_build docs/api
