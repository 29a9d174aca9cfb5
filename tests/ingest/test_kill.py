"""A real ingest process killed mid-load leaves the warehouse exactly as it was."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from csmetrics import Workspace
from tests.serving import STARTUP_DEADLINE

ROWS = 1_500_000


def fingerprint(database: str) -> tuple[object, ...]:
    """Counts and content hashes of the tables a load touches, and the ledger."""
    with duckdb.connect(database, read_only=True) as con:
        events = con.execute(
            "SELECT count(*), sum(hash(customer_id, user_id, occurred_at, event, quantity)) "
            "FROM usage_events").fetchone()
        ledger = con.execute("SELECT count(*), max(batch_id) FROM _batches").fetchone()
    return (*events, *ledger)


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Customers, a small first batch of events, and a large second batch (new rows and
    changed rows of the first)."""
    folder = tmp_path_factory.mktemp("big")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'C' || i AS customer_id, 'Customer ' || i AS name, "
                f"DATE '2024-01-01' AS started_at FROM range(200) t(i)) TO '{folder}/c.csv'")
    events = ("SELECT 'C' || (i % 200) AS customer_id, 'u' || (i % 5000) AS user_id, "
              "TIMESTAMP '2024-01-01' + to_seconds(i) AS occurred_at, "
              "['login', 'export', 'search'][1 + i % 3] AS event, {q} AS quantity "
              "FROM range({n}) t(i)")
    con.execute(f"COPY ({events.format(q=1, n=100_000)}) TO '{folder}/first.csv'")
    con.execute(f"COPY ({events.format(q=2, n=ROWS)}) TO '{folder}/second.csv'")
    return folder / "c.csv", folder / "first.csv", folder / "second.csv"


def ingest_command(file: Path, workspace: Path) -> list[str]:
    return [sys.executable, "-m", "csmetrics", "ingest", "usage_events", str(file),
            "--workspace", str(workspace)]


@pytest.mark.slow
def test_killing_an_ingest_at_any_moment_leaves_the_warehouse_unchanged(tmp_path, big_files):
    customers, first, second = big_files
    template = tmp_path / "template"
    with Workspace.init(template) as ws:
        ws.ingest("customers", [customers])
        ws.ingest("usage_events", [first])
    before = fingerprint(str(template / "csmetrics.duckdb"))
    completed = tmp_path / "completed"
    shutil.copytree(template, completed)
    subprocess.run(ingest_command(second, completed), check=True, capture_output=True)
    after = fingerprint(str(completed / "csmetrics.duckdb"))
    assert after[0] == ROWS and after[2] == before[2] + 1

    interrupted = 0
    for attempt, delay in enumerate((0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)):
        workspace = tmp_path / f"attempt-{attempt}"
        shutil.copytree(template, workspace)
        with subprocess.Popen(ingest_command(second, workspace), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as process:
            assert process.stderr is not None
            # wait until the write transaction has begun; a hung process is killed after the
            # deadline, which ends its stderr, and the test fails with what it printed
            watchdog = threading.Timer(STARTUP_DEADLINE, process.kill)
            watchdog.start()
            said: list[str] = []
            try:
                for line in process.stderr:
                    said.append(line)
                    if "loading" in line:
                        break
                else:
                    pytest.fail(f"the ingest never said 'loading' (exit code {process.wait()}, "
                                f"deadline {STARTUP_DEADLINE:g} s); its stderr:\n{''.join(said)}")
            finally:
                watchdog.cancel()
            time.sleep(delay)
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)
        state = fingerprint(str(workspace / "csmetrics.duckdb"))
        assert state in (before, after), f"half-written warehouse after a kill at +{delay}s"
        interrupted += process.returncode == -signal.SIGKILL and state == before
    assert interrupted >= 2, "the load finished too fast to be interrupted"
