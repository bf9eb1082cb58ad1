# The two commands of the README's quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint screenshots clean

$(BIN)/exastro-mail: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "exastro-mail needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

run: $(BIN)/exastro-mail  ## install, prepare the embedded database and serve on http://127.0.0.1:8000
	$(BIN)/exastro-mail quickstart

# The suite on SQLite, then on PostgreSQL and MariaDB side by side (tests/engine_fixtures.py: a server
# that does not answer skips its run here and fails it in CI). The browser stories and the modules that
# never open a database give nothing more on a server, so they run on SQLite only.
SERVER_ENGINES := postgres mariadb
SQLITE_ONLY := -m "not browser" --ignore=tests/test_smtp_transport.py --ignore=tests/test_smtp_diagnose.py \
	--ignore=tests/test_mailserver_rules.py

test: $(BIN)/exastro-mail  ## install and run the whole test suite, on SQLite, PostgreSQL and MariaDB
	$(BIN)/pytest -q
	@logs=$$(mktemp -d); pids=""; \
	for engine in $(SERVER_ENGINES); do \
		EXASTRO_MAIL_TEST_DATABASE=$$engine $(BIN)/pytest -q -p no:cacheprovider $(SQLITE_ONLY) \
			> $$logs/$$engine.log 2>&1 & pids="$$pids $$!"; \
	done; \
	failed=0; for pid in $$pids; do wait $$pid || failed=1; done; \
	for engine in $(SERVER_ENGINES); do \
		echo "--- the suite on $$engine (EXASTRO_MAIL_TEST_DATABASE=$$engine)"; cat $$logs/$$engine.log; \
	done; \
	rm -rf $$logs; exit $$failed

lint: $(BIN)/exastro-mail
	$(BIN)/ruff check .

screenshots: $(BIN)/exastro-mail  ## the README's screenshots, from the real app in Chromium
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
