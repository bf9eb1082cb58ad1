# The two commands of the README's quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-sqlite lint screenshots clean

$(BIN)/exastro-mail: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "exastro-mail needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

run: $(BIN)/exastro-mail  ## install, prepare the embedded database and serve on http://127.0.0.1:8000
	$(BIN)/exastro-mail quickstart

test: $(BIN)/exastro-mail  ## install and run the whole test suite on SQLite, PostgreSQL and MariaDB
	$(BIN)/python tests/every_engine.py

test-sqlite: $(BIN)/exastro-mail  ## the suite on the embedded SQLite only (quicker while working)
	$(BIN)/pytest -q

lint: $(BIN)/exastro-mail
	$(BIN)/ruff check .

screenshots: $(BIN)/exastro-mail  ## the README's screenshots, from the real app in Chromium
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
