# The two commands of the README: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.installed-spark

SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test test-on bench bench-spark bench-install install browser system-packages java clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The spark extra (PySpark, for the engine tests that run every metric on Spark too); the
## demo does not need it.
$(SPARK): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK)

## Build the demo company into ./demo-workspace, refresh its stored results (the demo command
## runs 'csmetrics refresh' after loading, so the first pages read them), print its headline
## KPIs and a login, and serve the dashboard (Ctrl-C stops it).
demo: $(STAMP)
	$(BIN)/csmetrics demo --workspace demo-workspace --force
	$(BIN)/csmetrics serve --workspace demo-workspace

## Debian packages the tests use: chromium for the dashboard tests (Playwright never downloads
## a browser), poppler-utils (pdftoppm, pdftotext, pdfinfo) to open the PDF reports, faketime
## for `make test-on`, postgresql for the tests of a shared app store (each test run starts
## its own server on a free port; nothing is started here).
system-packages:
	@command -v chromium >/dev/null && command -v pdftoppm >/dev/null && \
		command -v faketime >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium poppler-utils faketime postgresql >/dev/null; }

browser: system-packages

## Spark (local mode) runs on Java 17+; Debian's headless JRE when there is no java.
java:
	@command -v java >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

## Lint (ruff), then run the whole test suite.
test: $(STAMP) $(SPARK) system-packages java
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

## The whole suite with the machine's clock set to another day (libfaketime): the tests may
## not depend on today's date. `make test-on DATE=2029-11-20`.
DATE ?= 2029-11-20
test-on: $(STAMP) $(SPARK) system-packages java
	faketime '$(DATE) 08:00:00' $(BIN)/python -m pytest

## Benchmarks against baselines in the same run (never part of make test); SCALE=0.05 is quick.
## The model fits against lifetimes: $(BIN)/python bench/clv.py (after make bench-install).
SCALE ?= 1
BENCH := $(VENV)/.installed-bench
$(BENCH): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH)

bench-install: $(BENCH)

bench: $(BENCH)
	$(BIN)/python bench/run.py --scale $(SCALE)

## Spark local with a lake against DuckDB, the same steps on both (ingest, full refresh, the
## month after, incremental refresh), into docs/benchmarks.md (about 40 min). Quick (about
## 5 min, results elsewhere): make bench-spark SPARK_SIZES=2000 SPARK_MONTHS=6 SPARK_OUT=/tmp/s.md
SPARK_SIZES ?= 25000,50000,100000,200000
SPARK_MONTHS ?= 12
SPARK_OUT ?= docs/benchmarks.md
bench-spark: $(BENCH) $(SPARK) java
	$(BIN)/python bench/spark.py --sizes $(SPARK_SIZES) --months $(SPARK_MONTHS) \
		--spark-memory 8g --budget 100 --out $(SPARK_OUT)

clean:
	rm -rf $(VENV) demo-workspace
