"""Incremental refresh: after new data, recomputing only what it can change gives exactly
the table a full refresh gives (the whole ``_metric_values``)."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.config import Settings
from csmetrics.demo import files_by_table, write_as_of, write_company
from csmetrics.metrics.periods import Calendar, Grain
from csmetrics.metrics.refresh import LOOKS_AHEAD, looks_ahead, plan_refresh, recompute_periods
from tests.conftest import run_cli

END = date(2026, 3, 31)
CUT = date(2026, 2, 28)  # the data first ends here; March is "the month after"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo company as Parquet files, and the same company as it stood on ``CUT``."""
    folder = tmp_path_factory.mktemp("company")
    write_company(folder / "now", customers=40, months=4, seed=11, end=END)
    write_as_of(folder / "now", folder / "then", CUT)
    return folder


def _load(ws: Workspace, folder: Path) -> None:
    for table, paths in files_by_table(folder):
        ws.ingest(table, paths, allow_orphans=True)


def _workspace(root: Path) -> Workspace:
    ws = Workspace.init(root, name="Incremental Co")
    config = root / "csmetrics.toml"
    text = config.read_text()
    text = text.replace('default_segments = ["plan", "region", "size_tier", "owner", '
                        '"acquisition_channel"]', 'default_segments = ["plan"]')
    text = text.replace("snapshot_on_refresh = true", "snapshot_on_refresh = false")
    # a one-month window, so that value unlock has windows that close with the month after
    assert "renewal_grace_days = 30" in text
    text = text.replace("renewal_grace_days = 30",
                        "renewal_grace_days = 30\nvalue_unlock_window_months = 1")
    config.write_text(text)
    ws.close()
    return Workspace.load(root)


def _stored(root: Path) -> pd.DataFrame:
    with Workspace.load(root) as ws:
        frame = ws.metric_values()
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    keys = ["metric", "grain", "segment_by", "segment", "period_start"]
    return frame.sort_values(keys).reset_index(drop=True)


def _assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal tables; floats to 1e-9 (a sum may add up in another order on another run)."""
    assert len(left) == len(right)
    exact = ["metric", "grain", "period_start", "segment_by", "segment", "n", "null_reason"]
    assert left[exact].fillna("-").equals(right[exact].fillna("-"))
    for column in ("value", "ci_low", "ci_high", "target"):
        assert np.allclose(left[column], right[column], rtol=1e-9, equal_nan=True), column
    for a, b in zip(left["details"], right["details"], strict=True):
        a, b = json.loads(a), json.loads(b)
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert math.isclose(value, b[key], rel_tol=1e-9, abs_tol=1e-12), (key, a, b)
            else:
                assert value == b[key], (key, a, b)


def _full_copy(root: Path, copy: Path) -> pd.DataFrame:
    shutil.copytree(root, copy)
    with Workspace.load(copy) as ws:
        run = ws.refresh(grains=["month"], full=True)
    assert run["mode"] == "full"
    return _stored(copy)


@pytest.fixture(scope="module")
def refreshed(company: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the company as it stood on ``CUT``, refreshed (month grain)."""
    root = tmp_path_factory.mktemp("refreshed") / "ws"
    with _workspace(root) as ws:
        _load(ws, company / "then")
        first = ws.refresh(grains=["month"])
        assert first["mode"] == "full" and first["reason"] == "no earlier refresh to build on"
        again = ws.refresh(grains=["month"])
        assert again["mode"] == "incremental" and again["reason"].startswith("nothing changed")
        assert again["rows"] == first["rows"]
    return root


def test_a_new_month_then_an_old_change_refresh_incrementally_to_the_full_result(
        company, refreshed, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(refreshed, root)
    with Workspace.load(root) as ws:
        # the month after: new rows, and old rows that changed (subscriptions that ended,
        # tickets that were resolved)
        _load(ws, company / "now")
        run = ws.refresh(grains=["month"])
    assert run["mode"] == "incremental", run["reason"]
    # tickets opened before CUT and answered after it change the months of their days: the
    # metrics that count each ticket in its own period recompute those months (and the new
    # one); the metrics that read no tickets (nor leads) start the day after the old end
    assert run["incremental_from"] is not None and run["incremental_from"] <= CUT
    assert run["metric_since"]["time_to_first_response"] == date(2026, 3, 1)
    answered = run["metric_days"]["time_to_first_response"]
    assert min(answered) <= CUT < max(answered)
    assert run["metric_since"]["mrr"] == run["metric_since"]["dau"] == date(2026, 3, 1)
    # ... and so do the ones that read tickets and leads but not what was learned about
    # them later (the answers, the conversions)
    assert run["metric_since"]["tickets_per_customer"] == date(2026, 3, 1)
    assert run["metric_since"]["referrals"] == date(2026, 3, 1)
    assert "besides later facts" in run["reason"]
    incremental = _stored(root)
    assert incremental.period_start.max() == pd.Timestamp(2026, 3, 1)
    _assert_same(incremental, _full_copy(root, tmp_path / "full"))

    # an old row changes: a subscription's amount, months before the data end
    with Workspace.load(root) as ws:
        row = ws.warehouse.sql.execute(
            "SELECT subscription_id, customer_id, plan, amount, billing_interval, start_date "
            "FROM subscriptions WHERE end_date IS NULL AND start_date >= DATE '2025-12-01' "
            "ORDER BY start_date, subscription_id LIMIT 1").fetchall()[0]
        changed = tmp_path / "changed.csv"
        changed.write_text("subscription_id,customer_id,plan,amount,billing_interval,"
                           f"start_date\n{row[0]},{row[1]},{row[2]},{float(row[3]) + 500},"
                           f"{row[4]},{row[5]}\n")
        ws.ingest("subscriptions", [changed])
        run = ws.refresh(grains=["month"])
    assert run["mode"] == "incremental"
    assert run["incremental_from"] == run["metric_since"]["mrr"] == row[5]
    assert "time_to_first_response" not in run["metric_since"]  # reads no subscriptions
    _assert_same(_stored(root), _full_copy(root, tmp_path / "full-2"))


def test_a_changed_customer_attribute_or_other_settings_refresh_everything(
        company, refreshed, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(refreshed, root)
    with Workspace.load(root) as ws:
        con, settings = ws.warehouse.sql, ws.settings
        assert plan_refresh(con, ws.warehouse.ibis, settings, ["month"], ["plan"],
                            today=ws.today()).reason \
            .startswith("nothing changed")
        other = plan_refresh(con, ws.warehouse.ibis, settings, ["quarter"], ["plan"],
                             today=ws.today())
        assert other.full and "grains" in other.reason
        ws.ingest("tickets", sorted((company / "then").glob("tickets*.parquet")))
        assert ws.batches()[0].unchanged > 0 and ws.batches()[0].inserted == 0
        assert plan_refresh(con, ws.warehouse.ibis, settings, ["month"], ["plan"],
                            today=ws.today()).reason \
            .startswith("nothing changed")  # a batch that changed nothing
        customer = con.execute("SELECT customer_id, name, started_at FROM customers "
                               "ORDER BY 1 LIMIT 1").fetchall()[0]
        changed = tmp_path / "customer.csv"
        changed.write_text(f"customer_id,name,started_at,plan\n{customer[0]},{customer[1]},"
                           f"{customer[2]},enterprise-x\n")
        batch = ws.ingest("customers", [changed]).batch_id
        plan = plan_refresh(con, ws.warehouse.ibis, settings, ["month"], ["plan"],
                            today=ws.today())
        assert plan.full and plan.reason == (f"batch {batch} changed customers in a way every "
                                             "period depends on")
    # the command says what it did, and --full forces a full refresh when nothing changed
    out = " ".join(run_cli("refresh", "--period", "month", "-w", str(root)).stdout.split())
    assert f"full: batch {batch} changed customers in a way every period depends on" in out
    out = " ".join(run_cli("refresh", "--period", "month", "-w", str(root)).stdout.split())
    assert "incremental: nothing changed since the last refresh" in out
    out = " ".join(run_cli("refresh", "--period", "month", "--full", "-w",
                           str(root)).stdout.split())
    assert "full: a full refresh was asked for" in out
    with Workspace.load(root) as ws:
        con = ws.warehouse.sql
        con.execute("DELETE FROM _metric_values WHERE metric = 'mrr'")
        plan = plan_refresh(con, ws.warehouse.ibis, ws.settings, ["month"], ["plan"],
                            today=ws.today())
        assert plan.full and plan.reason == "no earlier refresh to build on"


def test_metrics_that_look_ahead_are_the_ones_whose_past_values_move_with_new_data(company):
    """Every metric outside LOOKS_AHEAD gives, for a past period, the value it had when the
    data ended there (its as-of value); LOOKS_AHEAD names only real metrics."""
    from csmetrics.metrics.definition import all_metrics

    names = {m.name for m in all_metrics()}
    assert LOOKS_AHEAD <= names
    root = company / "asof-ws"
    with _workspace(root) as ws:
        _load(ws, company / "now")
        local = sorted(names - set(looks_ahead(ws.settings)))
        start = date(2025, 12, 1)
        now = ws.query(local, start=start, end=CUT, by="plan")
        then = ws.query(local, start=start, end=CUT, by="plan", as_of=CUT)
    # a metric's own dimension (feature, employee, location) is part of the row's key
    dimensions = sorted({m.dimension for m in all_metrics() if m.dimension} & set(now.columns))
    keys = ["metric", "period_start", "plan", *dimensions]
    now, then = (f.astype({d: "string" for d in dimensions}) for f in (now, then))
    merged = now.merge(then, on=keys, suffixes=("_now", "_then"))
    assert len(merged) == len(now) == len(then)
    moved = merged[~np.isclose(merged.value_now.astype(float), merged.value_then.astype(float),
                               rtol=1e-9, equal_nan=True) | (merged.n_now != merged.n_then)]
    assert moved.empty, sorted(set(moved.metric))


def test_every_metric_declares_the_tables_it_reads(company, tmp_path):
    """An incremental refresh recomputes a metric only when a table it declares changed
    (``RefreshPlan.metric_since``), so each metric declares every table it reads: directly,
    through a shared intermediate, or through the text sentiment scored from them), under
    each choice of the settings that change what a metric reads."""
    import ibis.expr.operations as ops

    from csmetrics.enrich.sentiment import SENTIMENT_TABLE, SOURCES, score_texts
    from csmetrics.metrics.context import MetricContext
    from csmetrics.metrics.definition import all_metrics
    from csmetrics.metrics.engine import STACKED_BY
    from csmetrics.metrics.periods import Grain
    from csmetrics.metrics.policy import Policy
    from csmetrics.metrics.refresh import READ_BY_EVERY_METRIC

    derived = {SENTIMENT_TABLE: {s.table for s in SOURCES},
               "_survival_summary": set()}  # 'csmetrics survival', not loaded data
    root = tmp_path / "ws"
    with _workspace(root) as ws:
        _load(ws, company / "now")
        score_texts(ws.warehouse.sql)
        undeclared = {}
        default = ws.settings.metrics
        other = default.model_copy(update={
            "clv_method": 3 - default.clv_method,
            "lifespan_source": {"observed": "survival", "survival": "observed"}[
                default.lifespan_source],
            "conversion_denominator": {"leads": "visitors", "visitors": "leads"}[
                default.conversion_denominator],
            "retention_cost_per": {"retained": "all", "all": "retained"}[
                default.retention_cost_per]})
        for m, options, stack in itertools.product(all_metrics(), (default, other),
                                                   ((), ("", "plan"))):
            by = (*(STACKED_BY if stack else ()), *([m.dimension] if m.dimension else []))
            ctx = MetricContext(
                con=ws.warehouse.ibis, grain=Grain.MONTH, by=by, stack=stack,
                starts=[date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)],
                policy=Policy.from_settings(ws.settings.policy), options=options,
                known_until=END)
            try:
                expr = m.build(ctx)
            finally:
                ctx.close()
            read = set(ctx.read)
            for op in expr.op().find(ops.DatabaseTable):
                if not op.name.startswith("_cs_"):  # shared intermediates: in ctx.read
                    read |= derived.get(op.name, {op.name})
            missing = read - set(m.tables) - set(READ_BY_EVERY_METRIC)
            if missing:
                undeclared[m.name] = sorted(missing)
            assert read, m.name  # the record works
    assert not undeclared, json.dumps(undeclared)


def test_metrics_that_ignore_later_facts_do_not_move_with_them(company, tmp_path):
    """A metric declaring ``ignores_later_facts`` for a table is not recomputed after a batch
    that only brought such facts (tickets answered, leads converted): every one of its
    values, in total, by a customer segment and by a ticket segment, stays the same when they
    all change, while the metrics that read them move."""
    from csmetrics.ingest.changes import LATER_FACTS
    from csmetrics.metrics.definition import all_metrics

    ignoring = [m.name for m in all_metrics() if m.ignores_later_facts]
    assert {"tickets_per_customer", "referrals", "introducer_share"} <= set(ignoring)
    readers = ["time_to_first_response", "time_to_resolution", "conversion_rate"]
    request = {"period": "month", "start": date(2025, 12, 1), "end": END}

    def computed(ws: Workspace, metrics: list[str]) -> pd.DataFrame:
        frames = [ws.query(metrics, **request), ws.query(metrics, by=["plan"], **request),
                  ws.query(metrics, by=["agent"], **request)]
        return pd.concat(frames).astype(str).reset_index(drop=True)

    with _workspace(tmp_path / "ws") as ws:
        _load(ws, company / "now")
        before, read_before = computed(ws, ignoring), computed(ws, readers)
        sql = ws.warehouse.sql
        starts = {"tickets": "opened_at", "leads": "created_at"}
        for table, facts in LATER_FACTS.items():
            # every known fact forgotten, every unknown one learned a day and an hour on
            swapped = ", ".join(f"{c} = CASE WHEN {c} IS NULL THEN {starts[table]} + "
                                "INTERVAL 25 HOUR END" for c in facts)
            sql.execute(f"UPDATE {table} SET {swapped}")
        assert computed(ws, ignoring).equals(before)
        assert not computed(ws, readers).equals(read_before)


def test_period_local_metrics_move_only_in_the_periods_of_the_rows_changed(company, tmp_path):
    """A metric declared ``period_local`` counts each row on its own in the period of one of
    the row's dates: when the later facts of a few tickets change (answered an hour later,
    resolved six weeks later), its values move, in total, by a customer segment and by a
    ticket segment, only in the months of those tickets' days, old and new."""
    from csmetrics.metrics.definition import all_metrics

    local = [m.name for m in all_metrics() if m.period_local]
    assert {"time_to_first_response", "time_to_resolution",
            "first_contact_resolution_rate"} <= set(local)
    assert not set(local) & LOOKS_AHEAD
    request = {"period": "month", "start": date(2025, 12, 1), "end": END}

    def computed(ws: Workspace) -> pd.DataFrame:
        frames = [ws.query(local, **request), ws.query(local, by=["plan"], **request),
                  ws.query(local, by=["agent"], **request)]
        return pd.concat(frames).astype(str).reset_index(drop=True)

    dates = "opened_at, first_response_at, resolved_at, reopened_at"
    with _workspace(tmp_path / "ws") as ws:
        _load(ws, company / "now")
        before = computed(ws)
        sql = ws.warehouse.sql
        chosen = "ticket_id IN (SELECT ticket_id FROM tickets WHERE resolved_at < DATE " \
                 "'2026-01-01' AND first_response_at IS NOT NULL ORDER BY ticket_id LIMIT 2)"
        old = sql.execute(f"SELECT ticket_id, {dates} FROM tickets WHERE {chosen}").fetchall()
        assert len(old) == 2
        sql.execute("UPDATE tickets SET first_response_at = first_response_at + INTERVAL 1 "
                    f"HOUR, resolved_at = resolved_at + INTERVAL 45 DAY WHERE {chosen}")
        new = sql.execute(f"SELECT ticket_id, {dates} FROM tickets WHERE ticket_id IN ?",
                          [[row[0] for row in old]]).fetchall()
        after = computed(ws)
    months = {str(pd.Timestamp(day).to_period("M").start_time.date())
              for row in [*old, *new] for day in row[1:] if day is not None}
    moved = before["period_start"][(before != after).any(axis=1)]
    assert not moved.empty
    assert set(moved.str[:10]) <= months


def test_the_periods_recomputed_after_a_month_past_the_old_end():
    """Worked by hand, for data that ran to 2025-11-30 and now runs to 2025-12-31 (the
    defaults: 6-month value unlock window, 30 renewal grace days)."""
    settings = Settings()
    months = recompute_periods(settings, Grain.MONTH, Calendar(), date(2024, 1, 1),
                               date(2025, 12, 31), {name: date(2025, 12, 1) for name in
                                                    ("mrr", "value_unlock", "renewal_rate",
                                                     "time_to_value")})
    assert months["mrr"] == (date(2025, 12, 1),)
    # June's window (July to December) closes on the new end; July's to November's still run
    # past it, and their rows rest on their own months
    assert months["value_unlock"] == (date(2025, 6, 1), date(2025, 12, 1))
    assert months["renewal_rate"] == (date(2025, 11, 1), date(2025, 12, 1))
    assert len(months["time_to_value"]) == 24  # every month: first value comes any time later
    assert "nps" not in months  # nothing it reads changed
    quarters = recompute_periods(settings, Grain.QUARTER, Calendar(), date(2024, 1, 1),
                                 date(2025, 12, 31), {"value_unlock": date(2025, 12, 1)})
    assert quarters["value_unlock"] == (date(2025, 4, 1), date(2025, 10, 1))
    # tickets opened on 31 March and resolved on 2 April 2025 were reopened: the months of
    # their days, besides those from the metric's day on; a day before the data is no period
    answered = [date(2025, 3, 31), date(2025, 4, 2), date(2023, 6, 1)]
    months = recompute_periods(settings, Grain.MONTH, Calendar(), date(2024, 1, 1),
                               date(2025, 12, 31), {"time_to_resolution": date(2025, 12, 1)},
                               {"time_to_resolution": answered, "time_to_first_response":
                                answered})
    assert months["time_to_resolution"] == (date(2025, 3, 1), date(2025, 4, 1),
                                            date(2025, 12, 1))
    assert months["time_to_first_response"] == (date(2025, 3, 1), date(2025, 4, 1))
    quarters = recompute_periods(settings, Grain.QUARTER, Calendar(), date(2024, 1, 1),
                                 date(2025, 12, 31), {}, {"time_to_resolution": answered})
    assert quarters == {"time_to_resolution": (date(2025, 1, 1), date(2025, 4, 1))}
