# The two commands of the README: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Build the demo company into ./demo-workspace and print its headline KPIs.
demo: $(STAMP)
	$(BIN)/csmetrics demo --workspace demo-workspace --force

## Run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-workspace
