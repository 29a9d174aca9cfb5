# The two commands of the README: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test bench install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Build the demo company into ./demo-workspace, print its headline KPIs and a login, and
## serve the dashboard (Ctrl-C stops it).
demo: $(STAMP)
	$(BIN)/csmetrics demo --workspace demo-workspace --force
	$(BIN)/csmetrics serve --workspace demo-workspace

## The dashboard tests drive Debian's chromium (Playwright never downloads a browser).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium >/dev/null; }

## Run the whole test suite.
test: $(STAMP) browser
	$(BIN)/python -m pytest

## Benchmarks against baselines in the same run (never part of make test); SCALE=0.05 is quick.
SCALE ?= 1
bench: $(STAMP)
	$(BIN)/python bench/run.py --scale $(SCALE)

clean:
	rm -rf $(VENV) demo-workspace
