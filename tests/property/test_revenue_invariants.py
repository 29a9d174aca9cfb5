"""Invariants of revenue metrics on random subscription histories (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.metrics.revenue_fixtures import data_through, memory_warehouse, query, subscriptions

DAY0 = date(2023, 11, 1)
INTERVALS = ["month", "quarter", "year", "week"]


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[object, ...]]:
    """Up to 12 customers, each with up to 4 subscription lines that may overlap, upgrade,
    downgrade, end on the day they start, or leave and come back."""
    rows = []
    for c in range(draw(st.integers(1, 12))):
        for s in range(draw(st.integers(1, 4))):
            start = DAY0 + timedelta(days=draw(st.integers(0, 200)))
            length = draw(st.one_of(st.none(), st.integers(0, 150)))
            end = None if length is None else start + timedelta(days=length)
            amount = draw(st.sampled_from([0, 10, 25, 99.99, 120, 1200]))
            rows.append((f"S{c}-{s}", f"C{c}", draw(st.sampled_from(["a", "b"])), amount,
                         draw(st.sampled_from(INTERVALS)), start.isoformat(),
                         None if end is None else end.isoformat()))
    return rows


METRICS = ["mrr", "net_new_mrr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned",
           "mrr_reactivation", "nrr", "grr", "customer_retention_rate", "customer_churn_rate"]


def by_period(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.pivot(index="period_start", columns="metric", values="value")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_revenue_invariants(rows):
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, rows)
        data_through(warehouse, "2024-06-30")  # every period asked for is known
        frame = query(warehouse, METRICS, start="2023-11-01", end="2024-06-30")
        start_mrr = query(warehouse, "mrr", start="2023-10-01", end="2023-10-31")
    v = by_period(frame)
    previous = [float(start_mrr.value.iloc[0]), *v["mrr"].iloc[:-1]]
    for (period, row), before in zip(v.iterrows(), previous, strict=True):
        movements = (row.mrr_new + row.mrr_expansion + row.mrr_reactivation
                     - row.mrr_contraction - row.mrr_churned)
        # movements add up to the MRR change, to the cent and beyond
        assert abs(movements - row.net_new_mrr) < 1e-6, period
        assert abs((row.mrr - before) - row.net_new_mrr) < 1e-6, period
        if not pd.isna(row.grr):
            assert 0 <= row.grr <= 1 + 1e-12
            assert row.grr <= row.nrr + 1e-12
        if not pd.isna(row.customer_churn_rate):
            assert 0 <= row.customer_churn_rate <= 1
    # a period without any customer has no row of counts: they are zero
    counts = ["churned", "customers_start", "customers_end", "customers_new"]
    frame[counts] = frame[counts].fillna(0)
    churn = frame[frame.metric == "customer_churn_rate"].set_index("period_start")
    retention = frame[frame.metric == "customer_retention_rate"].set_index("period_start")
    for period in churn.index:
        # customers at start - churned + new + returned = customers at end
        start = retention.loc[period, "customers_start"]
        end = retention.loc[period, "customers_end"]
        assert start - churn.loc[period, "churned"] + retention.loc[period, "customers_new"] == end


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False))
def test_row_order_and_customer_ids_do_not_matter(rows, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    renamed = [(s, "X" + c[::-1], *rest) for s, c, *rest in shuffled]
    with memory_warehouse() as a, memory_warehouse() as b:
        subscriptions(a, rows)
        subscriptions(b, renamed)
        left = query(a, METRICS, start="2023-11-01", end="2024-06-30")
        right = query(b, METRICS, start="2023-11-01", end="2024-06-30")
    pd.testing.assert_frame_equal(left, right)
