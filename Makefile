# Companion: `make run` serves the demo clinic, `make test` runs the whole suite.
# Both install into ./.venv first, from the pinned versions in constraints.txt.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || (echo "Companion needs Python 3.11 or newer." && exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/companion demo --port 8000

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/python -m ruff check companion tests benchmarks

clean:
	rm -rf $(VENV) var .pytest_cache
