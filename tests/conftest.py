"""Shared fixtures: a fresh workspace per test, and helpers to write small input files.

Every test runs on a fixed clock: ``$CSMETRICS_NOW`` is set before anything reads the time,
so the code under test and every ``csmetrics`` command a test starts agree on what today is,
whatever the machine's date. Demos are built with a pinned ``--end`` (``DEMO_END``).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest

from csmetrics import Workspace
from csmetrics.clock import ENV_VAR as CLOCK_VAR
from csmetrics.schema import TABLES

#: What "now" is for the whole test session (and the commands the tests run).
TEST_NOW = "2026-07-15T10:00:00+00:00"
#: The last day of every demo company the tests build: the month before ``TEST_NOW``.
DEMO_END = "2026-06-30"
DEMO_END_DAY = date.fromisoformat(DEMO_END)
os.environ[CLOCK_VAR] = TEST_NOW


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A new, empty workspace in a temporary folder."""
    with Workspace.init(tmp_path / "ws", name="Test Co") as workspace:
        yield workspace


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """A CSV file with ``header`` and ``rows`` (None -> empty cell)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


def snapshot(workspace: Workspace) -> dict[str, list[tuple[object, ...]]]:
    """Every canonical table's rows and the ledger, sorted: equal snapshots = same warehouse."""
    con = workspace.warehouse.sql
    state = {
        name: sorted(map(repr, con.execute(f"SELECT * FROM {name}").fetchall()))
        for name in [*TABLES, "_batches"]
    }
    return state  # type: ignore[return-value]


def run_cli(*args: str, cwd: Path | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``csmetrics`` command as a user would, in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "csmetrics", *args], cwd=cwd, capture_output=True, text=True,
        env=env, timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"csmetrics {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


CUSTOMERS_HEADER = ["customer_id", "name", "started_at", "plan", "region"]
CUSTOMERS_ROWS = [
    ["C1", "Acme", "2024-01-05", "pro", "NA"],
    ["C2", "Beta", "2024-02-01", "basic", "EMEA"],
    ["C3", "Gamma", "2024-03-15", "basic", "APAC"],
]


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    """Three valid customers."""
    return write_csv(tmp_path / "customers.csv", CUSTOMERS_HEADER, CUSTOMERS_ROWS)


@pytest.fixture
def loaded(ws: Workspace, customers_csv: Path) -> Workspace:
    """A workspace with the three customers loaded."""
    ws.ingest("customers", [customers_csv])
    return ws


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (``tests/pg.py``): its superuser URL.
    Tests take a database of their own from it with ``tests.pg.new_database``."""
    from tests.pg import postgres_server

    with postgres_server() as url:
        yield url
