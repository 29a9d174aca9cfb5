"""What a metric builder sees: the tables (already filtered), the periods, the segments, the
policy and options in force. Builders only read from here, so a query is reproducible."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from csmetrics._lazy import lazy_module
from csmetrics.config import MetricsSection
from csmetrics.metrics.periods import Grain, next_start, periods_table
from csmetrics.metrics.policy import Policy
from csmetrics.schema import TABLES
from csmetrics.store.engines import create_temporary, drop_temporary

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")

NONE_SEGMENT = "(none)"

#: Filter columns that mean the customer's attribute even on a table with a column of the same
#: name: ``--where plan=pro`` keeps the customers on the pro plan (their whole MRR), as
#: ``--by plan`` groups them, not the pro subscription lines of every customer.
CUSTOMER_SEGMENTS = frozenset({"plan"})
#: The end of what has no end, when subscriptions are ranked by their end.
OPEN_END = date(9999, 12, 31)

#: A refresh pass writes an intermediate that many of its metrics read once (``shared``)
#: when it has at most this many rows; a larger one would take the memory their queries
#: need, and stays an expression each of them computes.
SHARED_ROWS = 5_000_000

#: The column that says when a row became known, and columns that reveal later facts: as of a
#: date, rows after it are ignored and later facts are blanked (no peeking at the future).
AS_OF = {
    "customers": ("started_at", ()),
    "subscriptions": ("start_date", ("end_date", "canceled_at", "past_due_since")),
    "orders": ("ordered_at", ()),
    "tickets": ("opened_at", ("first_response_at", "resolved_at", "reopened_at")),
    "survey_responses": ("responded_at", ()),
    "usage_events": ("occurred_at", ()),
    "activities": ("occurred_at", ()),
    "feedback": ("submitted_at", ()),
    "leads": ("created_at", ("converted_at",)),
    "traffic": ("date", ()),
    "costs": ("period_start", ()),
    "exchange_rates": ("date", ()),
}


@dataclass
class MetricContext:
    """Inputs of one metric computation."""

    con: BaseBackend
    grain: Grain
    starts: list[date]
    by: tuple[str, ...] = ()
    customer: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    policy: Policy = field(default_factory=Policy)
    options: MetricsSection = field(default_factory=MetricsSection)
    currency: str = "USD"
    as_of: date | None = None
    #: The last day the data speaks for: ``as_of`` when given, else the end of the data.
    #: Windows that run past it (a period still in progress) are cut or left empty.
    known_until: date | None = None
    #: Segmentations computed together (refresh): "" is the total; when set, ``by`` is
    #: ("segment_by", "segment_value").
    stack: tuple[str, ...] = ()
    #: The canonical tables this computation read (each metric declares the tables it
    #: reads, and incremental refresh relies on it).
    read: set[str] = field(default_factory=set, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _temporary: list[ir.Table] = field(default_factory=list, repr=False)

    # -- periods -------------------------------------------------------------------------

    @property
    def periods(self) -> ir.Table:
        """``period_index``, ``period_start``, ``period_end`` (exclusive), ``last_day``,
        ``prev_last_day`` for every period asked for."""
        return self.cached("periods", lambda: periods_table(self.starts, self.grain))

    @property
    def span(self) -> tuple[date, date]:
        """The first day of the first period and the first day after the last one."""
        return self.starts[0], next_start(self.starts[-1], self.grain)

    @property
    def group_keys(self) -> list[str]:
        """Columns every result is grouped by."""
        return ["period_start", *self.by]

    def in_period(self, t: ir.Table, column: str) -> ir.Table:
        """Rows of ``t`` with the period their ``column`` (a date or timestamp) falls in."""
        day = calendar_day(t[column])
        t = t.mutate(_in_day=day)
        p = self.periods
        joined = t.join(p, [t._in_day >= p.period_start, t._in_day < p.period_end])
        return joined.drop("_in_day")

    # -- tables --------------------------------------------------------------------------

    def table(self, name: str) -> ir.Table:
        """A canonical table, restricted to the customer, filters and as-of date asked for."""
        return self.cached(f"table:{name}", lambda: self._filtered(name))

    def _filtered(self, name: str) -> ir.Table:
        t = self._known(name)
        if name == "customers":
            t = self._with_subscription_plans(t)
        if "customer_id" in t.columns and self.customer is not None:
            t = t.filter(t.customer_id == self.customer)
        for column, value in self.where:
            if column in t.columns and not (name != "customers" and column in CUSTOMER_SEGMENTS):
                t = t.filter(t[column].cast("string") == value)
            elif "customer_id" in t.columns and name != "customers" and is_customer_level(column):
                chosen = self.customers().select("customer_id")
                t = t.semi_join(chosen, "customer_id")
        return t

    def _known(self, name: str) -> ir.Table:
        """A canonical table as it was known on ``as_of`` (all of it without one)."""
        self.read.add(name)
        t = self.con.table(name)
        if self.as_of is not None:
            known, revealed = AS_OF[name]
            limit = ibis.literal(self.as_of)
            known_day = calendar_day(t[known])
            t = t.filter(known_day <= limit)
            t = t.mutate(**{
                c: ibis.ifelse(calendar_day(t[c]) <= limit, t[c], ibis.null(t[c].type()))
                for c in revealed
            })
        return t

    @property
    def plan_day(self) -> date:
        """The day a customer's plan is read on: the last day asked for, or the end of the
        data (``known_until``) when that is earlier."""
        last = next_start(self.starts[-1], self.grain) - timedelta(days=1)
        until = self.known_until or self.as_of
        return min(last, until) if until is not None else last

    def _with_subscription_plans(self, customers: ir.Table) -> ir.Table:
        """``customers`` with an empty ``plan`` filled from the customer's subscriptions
        (``subscription_plans`` on ``plan_day``). Customers files exported from a billing
        tool (Stripe) carry no plan; their subscriptions do. Nothing changes, and
        subscriptions are not read, when every customer has a plan."""
        def needed() -> bool:
            gaps = customers.filter(customers.plan.isnull()).count()
            return bool(self.con.execute(gaps) > 0)
        if not self.cached("customers-without-plan", needed):
            return customers
        plans = subscription_plans(self._known("subscriptions"), self.plan_day)
        plans = plans.select(_plan_cid=plans.customer_id, _sub_plan=plans.plan)
        joined = customers.left_join(plans, customers.customer_id == plans._plan_cid)
        filled = joined.mutate(plan=joined.plan.fill_null(joined._sub_plan))
        return filled.drop("_plan_cid", "_sub_plan")

    def customers(self) -> ir.Table:
        """The customers in scope, with every attribute filter applied."""
        def build() -> ir.Table:
            c = self.table("customers")
            for column, value in self.where:
                if column not in c.columns and is_customer_level(column):
                    c = c.filter(customer_attribute(c, column) == value)
            return c
        return self.cached("customers-in-scope", build)

    def segment(self, t: ir.Table) -> ir.Table:
        """``t`` with one text column per segment in ``by`` (missing values: "(none)").

        A segment column found on ``t`` itself (a ticket's agent) is used as is; otherwise it
        is the customer's attribute, by ``customer_id``.
        """
        if self.stack:
            return self._stacked_segments(t)
        own = [c for c in self.by if c in t.columns]
        t = t.mutate(**{c: t[c].cast("string").fill_null(NONE_SEGMENT) for c in own})
        needed = [c for c in self.by if c not in own]
        if not needed:
            return t
        c = self.customers()
        attrs = c.select(
            _seg_cid=c.customer_id,
            **{f"_seg_{n}": customer_attribute(c, n).fill_null(NONE_SEGMENT) for n in needed},
        )
        joined = t.left_join(attrs, t.customer_id == attrs._seg_cid)
        return joined.mutate(
            **{n: joined[f"_seg_{n}"].fill_null(NONE_SEGMENT) for n in needed}
        ).drop("_seg_cid", *[f"_seg_{n}" for n in needed])

    def _stacked_segments(self, t: ir.Table) -> ir.Table:
        """``t`` repeated once per segmentation in ``stack``, with ``segment_by`` (the
        segment's name, "" for the total) and ``segment_value``: one query then computes a
        metric for the total and every segment at once."""
        names = [n for n in self.stack if n]
        # as in ``segment``: a column of ``t`` itself, else the customer's attribute
        t = t.mutate(**{f"_seg_{n}": t[n].cast("string") for n in names if n in t.columns})
        needed = [n for n in names if n not in t.columns]
        stack = ibis.memtable({"segment_by": list(self.stack)}, schema={"segment_by": "string"})
        if needed and "customer_id" not in t.columns:
            # rows of no customer (visitors of a day): no customer attribute
            t = t.mutate(**{f"_seg_{n}": ibis.null("string") for n in needed})
            needed = []
        if needed:
            c = self.customers()
            attrs = c.select(_seg_cid=c.customer_id,
                             **{f"_seg_{n}": customer_attribute(c, n) for n in needed})
            joined = t.left_join(attrs, t.customer_id == attrs._seg_cid).cross_join(stack)
            joined = joined.drop("_seg_cid")
        else:
            joined = t.cross_join(stack)
        value = ibis.cases(
            *[(joined.segment_by == n, joined[f"_seg_{n}"].fill_null(NONE_SEGMENT))
              for n in names],
            else_=ibis.literal(""),
        ) if names else ibis.literal("")
        return joined.mutate(segment_value=value).drop(*[f"_seg_{n}" for n in names])

    def cached(self, key: str, build: Any) -> Any:
        """Build an intermediate once per computation and share it between metrics."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def materialized(self, key: str, build: Any) -> ir.Table:
        """Like ``cached``, but computed once into a temporary table that every metric of
        this computation reads: shared intermediates are neither recompiled nor recomputed."""
        def create() -> ir.Table:
            name = f"_cs_{key.replace('-', '_')}_{uuid.uuid4().hex[:12]}"
            table = create_temporary(self.con, name, build())
            self._temporary.append(table)
            return table
        return self.cached(f"materialized:{key}", create)

    def shared(self, key: str, build: Callable[[], ir.Table], rows: Callable[[], int]
               ) -> ir.Table:
        """An intermediate that many metrics of a refresh pass (``stack`` set) read:
        ``materialized`` there when ``rows()`` (its size, or an estimate) is at most
        ``SHARED_ROWS``, else ``cached``; one-off queries keep it an expression, as the
        engine plans it with the rest of their query."""
        def choose() -> ir.Table:
            if self.stack and rows() <= SHARED_ROWS:
                return self.materialized(key, build)
            return build()
        return self.cached(f"shared:{key}", choose)

    def close(self) -> None:
        """Drop the temporary tables this computation made."""
        for table in self._temporary:
            drop_temporary(self.con, table)
        self._temporary.clear()


def subscription_plans(subscriptions: ir.Table, day: date) -> ir.Table:
    """``customer_id``, ``plan``: each customer's current plan read from its subscriptions.

    The rule: of the customer's subscriptions, the one active on ``day`` (started on or
    before it, not ended on or before it) with the highest MRR (amount normalised to a month
    by its billing interval, in its own currency); a customer with none active (churned, or
    not started yet) takes the plan of its latest-ending subscription. Ties go to the smallest
    subscription_id, so the answer is the same on every engine. Used only for customers
    whose own ``plan`` is empty (``MetricContext.customers``, ``Workspace.customer_list``).
    """
    from csmetrics.metrics.money import MONTHS_PER_INTERVAL  # money imports this module

    s = subscriptions
    on = ibis.literal(day)
    active = (calendar_day(s.start_date) <= on) & (
        s.end_date.isnull() | (calendar_day(s.end_date) > on))
    months = s.billing_interval.cases(*MONTHS_PER_INTERVAL.items(), else_=ibis.null("float64"))
    monthly = s.amount.cast("float64") / months
    ranked = s.select(
        s.customer_id, s.plan, s.subscription_id,
        _active=ibis.ifelse(active, 1, 0),
        # the active ones rank by amount alone; the others by how late they end
        _end=ibis.ifelse(active, ibis.literal(OPEN_END),
                         s.end_date.cast("date").fill_null(OPEN_END)),
        _monthly=monthly.fill_null(0.0),
    )
    order = [ibis.desc(ranked._active), ibis.desc(ranked._end), ibis.desc(ranked._monthly),
             ranked.subscription_id]
    window = ibis.window(group_by=ranked.customer_id, order_by=order)
    ranked = ranked.mutate(_rank=ibis.row_number().over(window))
    return ranked.filter(ranked._rank == 0).select("customer_id", "plan")


def is_customer_level(column: str) -> bool:
    """Whether a filter column describes the customer (a customer column or a custom
    attribute) rather than a row of another table (a ticket's agent, an event's name)."""
    if column in TABLES["customers"].column_names:
        return True
    return not any(column in t.column_names for t in TABLES.values())


def customer_attribute(customers: ir.Table, name: str) -> ir.StringValue:
    """A customer column (plan, region...) or, if it is not one, a key of ``attributes``."""
    if name in TABLES["customers"].column_names:
        return customers[name].cast("string")
    return customers.attributes.get(name)


def calendar_day(value: ir.Value) -> ir.Value:
    """A date, or a timestamp's calendar day (in the session's time zone)."""
    return value.cast("date") if value.type().is_timestamp() else value
