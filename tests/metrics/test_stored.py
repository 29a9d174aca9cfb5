"""Queries answered from the last refresh: the same rows as computing them, and only while
the stored results are current and hold what is asked."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.demo import files_by_table, write_company
from csmetrics.metrics.definition import all_metrics
from csmetrics.metrics.stored import stored_answer

END = date(2026, 3, 31)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo company, loaded and refreshed (month and quarter)."""
    folder = tmp_path_factory.mktemp("stored")
    write_company(folder / "files", customers=40, months=5, seed=5, end=END)
    root = folder / "ws"
    Workspace.init(root, name="Stored Co").close()
    config = root / "csmetrics.toml"
    config.write_text(config.read_text().replace("snapshot_on_refresh = true",
                                                 "snapshot_on_refresh = false"))
    with Workspace.load(root) as ws:
        for table, paths in files_by_table(folder / "files"):
            ws.ingest(table, paths, allow_orphans=True)
        ws.refresh()
    return root


def _request(ws: Workspace, names: list[str], **request: object):
    from csmetrics.metrics import MetricRequest

    return stored_answer(ws.warehouse.sql, lambda: ws.warehouse.ibis, ws.settings,
                         MetricRequest.create(names, **request), today=ws.today())


def _assert_same(stored: pd.DataFrame, live: pd.DataFrame) -> None:
    """The rows of both, in the same order, with equal keys and values (floats to 1e-9;
    stored extra counts come back as floats)."""
    assert list(stored.metric) == list(live.metric)
    assert list(stored.period_start) == list(live.period_start)
    assert set(stored.columns) == set(live.columns)
    for column in live.columns:
        left, right = stored[column], live[column]
        numeric = pd.api.types.is_numeric_dtype(right) or column in ("value", "target")
        if numeric:
            assert np.allclose(pd.to_numeric(left, errors="coerce").astype(float),
                               pd.to_numeric(right, errors="coerce").astype(float),
                               rtol=1e-9, equal_nan=True), column
        else:
            assert left.where(left.notna(), None).tolist() == \
                right.where(right.notna(), None).tolist(), column


@pytest.mark.parametrize("period", ["month", "quarter"])
def test_every_metric_without_a_dimension_reads_back_as_computed(refreshed, period):
    names = [m.name for m in all_metrics() if not m.dimension]
    with Workspace.load(refreshed) as ws:
        live = ws.query(names, period=period, start="2025-11-01", end=END)
        stored = _request(ws, names, period=period, start="2025-11-01", end=END)
        assert stored is not None
        _assert_same(stored, live)
        # the default range (the last periods up to the data end) too
        _assert_same(ws.query(["mrr", "nps"], period=period, stored=True),
                     ws.query(["mrr", "nps"], period=period))


def test_what_was_not_stored_is_computed(refreshed):
    with Workspace.load(refreshed) as ws:
        customer = ws.warehouse.sql.execute("SELECT min(customer_id) FROM customers").fetchall()
        for request in ({"by": "plan"}, {"customer": customer[0][0]},
                        {"where": {"region": "EMEA"}}, {"as_of": "2026-01-31"},
                        {"period": "week"}, {"start": "2019-01-01"}):
            assert _request(ws, ["mrr"], **request) is None, request
        assert _request(ws, ["feature_adoption"]) is None  # a dimension of its own
        assert _request(ws, ["mrr"]) is not None


def test_stored_results_stop_answering_once_the_data_or_settings_change(refreshed, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(refreshed, root)
    with Workspace.load(root) as ws:
        before = ws.query(["mrr"], stored=True)
        changed = tmp_path / "subs.csv"
        customer = ws.warehouse.sql.execute("SELECT min(customer_id) FROM customers").fetchall()
        changed.write_text("subscription_id,customer_id,plan,amount,billing_interval,start_date\n"
                           f"NEW-1,{customer[0][0]},pro,1000,month,2026-03-01\n")
        ws.ingest("subscriptions", [changed])
        assert _request(ws, ["mrr"]) is None
        after = ws.query(["mrr"], stored=True)  # computed, with the new subscription
        assert after.value.iloc[-1] == pytest.approx(before.value.iloc[-1] + 1000)
        ws.refresh()
        assert _request(ws, ["mrr"]) is not None
    config = root / "csmetrics.toml"
    config.write_text(config.read_text().replace('currency = "USD"', 'currency = "EUR"'))
    with Workspace.load(root) as ws:
        assert _request(ws, ["mrr"]) is None  # other settings: the stored rows are stale


def test_the_ledger_alone_says_when_stored_results_hold_as_days_pass(refreshed, tmp_path):
    """``current_basis`` answers "still current" without starting the engine only while no
    day after the stored data end has come to pass: a ticket booked ahead counts once its
    day is reached; a note logged on a customer's page never moves the data end."""
    from datetime import datetime

    from csmetrics.clock import FixedClock
    from csmetrics.metrics.engine import data_end
    from csmetrics.metrics.refresh import current_basis

    root = tmp_path / "ws"
    shutil.copytree(refreshed, root)
    ahead = tmp_path / "tickets.csv"
    ahead.write_text("ticket_id,customer_id,opened_at\nT-AHEAD,"
                     f"{_first_customer(root)},2026-05-15 09:00:00\n")
    note = tmp_path / "note.csv"
    note.write_text("activity_id,customer_id,occurred_at,kind,notes\nN-1,"
                    f"{_first_customer(root)},2026-05-08 10:00:00,note,Called them\n")

    def at(day: str) -> Workspace:
        return Workspace.load(root, FixedClock(datetime.fromisoformat(f"{day}T12:00:00")))

    with at("2026-04-10") as ws:
        ws.ingest("tickets", [ahead])
        ws.ingest("activities", [note])
        ws.refresh()
        assert current_basis(ws.warehouse.sql, ws.settings, today=ws.today()) is not None
        assert ws.data_end() == END == data_end(ws.warehouse.ibis, ws.today())
    with at("2026-05-09") as ws:  # the note's day has passed, the ticket's not yet
        assert current_basis(ws.warehouse.sql, ws.settings, today=ws.today()) is not None
        assert ws.data_end() == END == data_end(ws.warehouse.ibis, ws.today())
        assert _request(ws, ["mrr"]) is not None
    with at("2026-05-20") as ws:  # the ticket's day has come: the data runs to it
        assert current_basis(ws.warehouse.sql, ws.settings, today=ws.today()) is None
        assert ws.data_end() == date(2026, 5, 15) == data_end(ws.warehouse.ibis, ws.today())
        assert _request(ws, ["mrr"]) is None  # stale: computed instead


def _first_customer(root: Path) -> str:
    with Workspace.load(root) as ws:
        return ws.warehouse.sql.execute("SELECT min(customer_id) FROM customers").fetchall()[0][0]
