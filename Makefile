# Two commands matter: `make run` and `make test`. Everything else is a building block.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run index test lint typecheck unit eval-gate bench chromium clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Incremental: on an unchanged corpus this embeds nothing and takes a second.
index: setup
	$(BIN)/assistant ingest

run: index
	$(BIN)/python app.py

# Debian's chromium for the browser tests (never `playwright install`: no downloads at run time).
chromium:
	@command -v chromium >/dev/null 2>&1 || bash scripts/install-chromium.sh

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy assistant app.py bench tests

unit: setup chromium
	$(BIN)/pytest

test: lint typecheck unit

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf index/* .pytest_cache .mypy_cache .ruff_cache
