# Every target creates .venv itself when it is missing (or when pyproject.toml changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint demo bench models clean postgres

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

test: $(BIN)/.installed postgres
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# The tests (and `make bench`) start a real PostgreSQL server: its binaries are installed when missing.
postgres:
	@tools/ensure-postgres

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# Regenerate bot/ona/models.py and bot/ona/rules.py from Ona's published schema (gitpod-sdk).
models: $(BIN)/.installed
	$(BIN)/python tools/gen_models.py

demo: $(BIN)/.installed
	$(BIN)/ona-bot demo

bench: $(BIN)/.installed postgres
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
