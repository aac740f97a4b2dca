# Flowdash: `make run` to start it, `make test` to test it. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Test processes (pytest-xdist): 2 suits a 2-core machine; TEST_WORKERS=0 runs in one.
TEST_WORKERS ?= 2

.PHONY: install system-deps run test test-outside test-localstack lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	PYTHONUNBUFFERED=1 $(BIN)/python manage.py serve

# The system packages the tests need (Chromium, Redis): installed if missing and allowed.
system-deps:
	bash scripts/system_deps.sh

test: system-deps install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

# The same suite with the embedded backend watched from outside (taps and samples),
# as Flowdash watches LocalStack and AWS.
test-outside: system-deps install
	FLOWDASH_OBSERVER=outside $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 tests/messaging tests/dashboard tests/browser tests/classroom

# The backend contract suite (tests/backends) against a real LocalStack in host mode: its
# own virtualenv (.venv-localstack, Python >= 3.12 from pyenv) is installed on the first run.
test-localstack: install
	bash scripts/localstack.sh
	FLOWDASH_TEST_BACKENDS=localstack $(BIN)/python -m pytest tests/backends

# Ruff, then mypy: strict on messaging/, django-stubs on dashboard/ ([tool.mypy]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy messaging dashboard

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var
