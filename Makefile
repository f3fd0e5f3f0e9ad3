# Works on a fresh machine with only python3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast screenshots lint format install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)

## make run: generate the small default registers on first run, then start the service
run: $(STAMP)
	$(PY) -m statservice run

## make test: lint and type-check, then the whole test suite
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

## make test-fast: the tests not marked slow (the larger-scale ones still run in make test)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

## make screenshots: the browser scenarios, saving each page to docs/screenshots/ (needs /usr/bin/chromium)
screenshots: $(STAMP)
	STATSERVICE_SCREENSHOTS_DIR=docs/screenshots STATSERVICE_REQUIRE_BROWSER=1 $(PY) -m pytest -q -p no:cacheprovider tests/service/test_web_browser.py tests/service/test_web_browser_roles.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) data var .pytest_cache .ruff_cache .hypothesis
