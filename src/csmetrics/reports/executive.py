"""The executive report's content, as data: headline KPIs with their trend, MRR movements,
at-risk accounts and the voice of the customer for one complete week, month or quarter.

Every figure comes from the workspace facade (``ws.query``, ``ws.health``, ``ws.churn_scores``,
``ws.voice_themes``, ``ws.voice_requests``); nothing is computed here but selections and
differences. Rendering (HTML, PDF, charts) is ``csmetrics.reports.render``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from csmetrics.errors import UserInputError
from csmetrics.metrics.context import customer_attribute
from csmetrics.metrics.definition import Direction, Unit, get_metric
from csmetrics.metrics.engine import check_segments
from csmetrics.metrics.formatting import format_value
from csmetrics.metrics.headline import HEADLINE
from csmetrics.metrics.periods import Calendar, Grain, next_start, period_start
from csmetrics.reports.source import ReportSource

#: cadence -> (period length, title, how many periods the trend charts show)
CADENCES: dict[str, tuple[Grain, str, int]] = {
    "weekly": (Grain.WEEK, "Weekly operational review", 12),
    "monthly": (Grain.MONTH, "Monthly tactical review", 12),
    "quarterly": (Grain.QUARTER, "Quarterly strategic review", 8),
}
#: MRR movements in the order a bridge reads: what came in, then what went out.
MOVEMENTS = ("mrr_new", "mrr_expansion", "mrr_reactivation", "mrr_contraction", "mrr_churned")
#: An account is at risk when its health band is red or its score fell this many points over
#: the report's period.
FALL_POINTS = 10.0
AT_RISK_ROWS = 15
TOP_THEMES = 5
TOP_REQUESTS = 5


@dataclass(frozen=True)
class Period:
    """One complete calendar period: ``start`` .. ``end`` (both inclusive)."""

    cadence: str
    grain: Grain
    start: date
    end: date

    @property
    def label(self) -> str:
        """How the period reads: ``week of 2026-03-02``, ``March 2026``, ``Q1 2026``."""
        if self.grain is Grain.WEEK:
            return f"week of {self.start.isoformat()} to {self.end.isoformat()}"
        if self.grain is Grain.MONTH:
            return self.start.strftime("%B %Y")
        return f"quarter {self.start.strftime('%b')}–{self.end.strftime('%b %Y')}"

    def previous(self, calendar: Calendar) -> Period:
        """The period just before this one."""
        start = period_start(self.start - timedelta(days=1), self.grain, calendar)
        return Period(self.cadence, self.grain, start, self.start - timedelta(days=1))


@dataclass(frozen=True)
class KpiLine:
    """A headline KPI in the period, the period before, and its trend (oldest first)."""

    name: str
    title: str
    unit: Unit
    direction: Direction
    value: float | None
    previous: float | None
    n: int
    target: float | None
    null_reason: str | None
    trend: tuple[tuple[date, float | None], ...]
    currency: str

    @property
    def display(self) -> str:
        """The value as people read it (``12,345.67 USD``, ``5.3 %``)."""
        return format_value(self.value, self.unit, self.currency)

    @property
    def change(self) -> float | None:
        """Value minus the previous period's value."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_display(self) -> str:
        """The change with its sign; rates in percentage points."""
        change = self.change
        if change is None:
            return "—"
        if self.unit is Unit.RATE:
            return f"{change * 100:+.1f} pts"
        if self.unit is Unit.MONEY:
            return f"{change:+,.2f}"
        return f"{change:+,.1f}"

    @property
    def verdict(self) -> str:
        """``better``, ``worse`` or ``same`` given which way is good ('' without a change)."""
        change = self.change
        if change is None or self.direction is Direction.NEUTRAL:
            return ""
        if abs(change) < 1e-9:
            return "same"
        return "better" if (change > 0) == (self.direction is Direction.UP) else "worse"


@dataclass(frozen=True)
class Movement:
    """One kind of MRR movement in the period (amounts positive; ``sign`` says which way)."""

    name: str
    title: str
    amount: float
    customers: int
    sign: int


@dataclass(frozen=True)
class AtRiskAccount:
    """An account to look at: red band, or a score that fell over the period."""

    customer_id: str
    name: str
    owner: str
    mrr: float
    score: float
    band: str
    change: float | None
    churn_probability: float | None
    reason: str


@dataclass(frozen=True)
class ThemeLine:
    """A theme of the customers' comments and feedback known by the period's end."""

    label: str
    texts: int
    in_period: int | None
    customers: int
    negative_share: float | None
    example: str


@dataclass(frozen=True)
class RequestLine:
    """A merged feature request, ranked by how many customers asked."""

    label: str
    customers: int
    mrr: float
    last_asked: date | None
    status: str


@dataclass(frozen=True)
class ExecutiveReport:
    """Everything the executive report shows, computed for one period and segment."""

    company: str
    currency: str
    title: str
    period: Period
    segment: tuple[tuple[str, str], ...]
    data_end: date
    generated_at: datetime
    kpis: tuple[KpiLine, ...]
    movements: tuple[Movement, ...]
    at_risk: tuple[AtRiskAccount, ...]
    at_risk_total: int
    accounts_scored: int
    churn_note: str | None
    themes: tuple[ThemeLine, ...]
    requests: tuple[RequestLine, ...]
    notes: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    def kpi(self, name: str) -> KpiLine:
        """The headline KPI called ``name``."""
        for line in self.kpis:
            if line.name == name:
                return line
        raise KeyError(name)

    @property
    def segment_label(self) -> str:
        """``plan = Pro`` or ``all customers``."""
        if not self.segment:
            return "all customers"
        return ", ".join(f"{column} = {value}" for column, value in self.segment)

    @property
    def net_new_mrr(self) -> float:
        """The movements' sum: what MRR changed by over the period."""
        return sum(m.sign * m.amount for m in self.movements)

    def money(self, value: float | None) -> str:
        """An amount in the reporting currency, as people read it."""
        return format_value(value, Unit.MONEY, self.currency)


def report_period(cadence: str, day: date, calendar: Calendar | None = None) -> Period:
    """The last complete week / month / quarter that ends on or before ``day``."""
    grain = cadence_grain(cadence)
    calendar = calendar or Calendar()
    start = period_start(day, grain, calendar)
    if next_start(start, grain) - timedelta(days=1) != day:
        start = period_start(start - timedelta(days=1), grain, calendar)
    return Period(cadence, grain, start, next_start(start, grain) - timedelta(days=1))


def cadence_grain(cadence: str) -> Grain:
    """The period length of a cadence; unknown cadences are refused with the choices."""
    if cadence not in CADENCES:
        raise UserInputError(f"Report cadence {cadence!r} is not one of "
                             f"{', '.join(CADENCES)}.")
    return CADENCES[cadence][0]


def parse_segment(segment: str | None) -> tuple[tuple[str, str], ...]:
    """``plan=Pro`` (or ``plan=Pro,region=EMEA``) as ((column, value), ...)."""
    if not segment:
        return ()
    pairs = []
    for item in segment.split(","):
        column, sep, value = item.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise UserInputError(f"--segment {segment!r} must look like COLUMN=VALUE, e.g. "
                                 "plan=Pro (several: plan=Pro,region=EMEA).")
        pairs.append((column.strip(), value.strip()))
    return tuple(pairs)


def build_report(ws: ReportSource, cadence: str, *, segment: str | None = None,
                 as_of: date | None = None, period: Period | None = None) -> ExecutiveReport:
    """The report of the last complete ``cadence`` period on or before ``as_of`` (default: the
    end of the data), or of ``period``, for the customers in ``segment`` (``COL=VALUE``)."""
    cadence_grain(cadence)  # refuses an unknown cadence
    grain, title, trend_periods = CADENCES[cadence]
    settings = ws.settings
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    last_day = ws.data_end()
    period = period or report_period(cadence, as_of or last_day, calendar)
    where = parse_segment(segment)
    check_segments(ws.warehouse.ibis, (), where)
    seconds: dict[str, float] = {}
    notes: list[str] = []
    if last_day < period.end:
        notes.append(f"The data ends on {last_day.isoformat()}, before the end of this period "
                     f"({period.end.isoformat()}): its figures are incomplete.")

    members = _segment_members(ws, where)
    clock = time.perf_counter()
    first = period.start
    for _ in range(trend_periods - 1):
        first = period_start(first - timedelta(days=1), grain, calendar)
    frame = ws.query([*HEADLINE, *MOVEMENTS], period=grain.value, start=first, end=period.end,
                     where=[f"{c}={v}" for c, v in where] or None)
    currency = settings.workspace.currency
    kpis = tuple(_kpi(frame, name, period, calendar, currency) for name in HEADLINE)
    movements = tuple(_movement(frame, name, period) for name in MOVEMENTS)
    seconds["metrics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    at_risk, total, scored, churn_note = _at_risk(ws, period, calendar, members)
    seconds["accounts"] = time.perf_counter() - clock

    clock = time.perf_counter()
    themes, requests, voice_notes = _voice(ws, period, where)
    notes.extend(voice_notes)
    seconds["voice"] = time.perf_counter() - clock

    return ExecutiveReport(
        company=settings.workspace.name, currency=currency, title=title, period=period,
        segment=where, data_end=last_day, generated_at=ws.clock.now(), kpis=kpis,
        movements=movements, at_risk=at_risk, at_risk_total=total, accounts_scored=scored,
        churn_note=churn_note, themes=themes, requests=requests, notes=tuple(notes),
        seconds=seconds)


def _kpi(frame: pd.DataFrame, name: str, period: Period, calendar: Calendar,
         currency: str) -> KpiLine:
    definition = get_metric(name)
    rows = frame[frame.metric == name].sort_values("period_start")
    trend = tuple((pd.Timestamp(r.period_start).date(), _number(r.value))
                  for r in rows.itertuples())
    by_start = {pd.Timestamp(r.period_start).date(): r for r in rows.itertuples()}
    now = by_start.get(period.start)
    before = by_start.get(period.previous(calendar).start)
    return KpiLine(
        name=name, title=definition.title, unit=definition.unit,
        direction=definition.direction,
        value=None if now is None else _number(now.value),
        previous=None if before is None else _number(before.value),
        n=0 if now is None else int(now.n),
        target=None if now is None else _number(now.target),
        null_reason=None if now is None or pd.isna(now.null_reason) else str(now.null_reason),
        trend=trend, currency=currency)


def _movement(frame: pd.DataFrame, name: str, period: Period) -> Movement:
    rows = frame[(frame.metric == name)
                 & (pd.to_datetime(frame.period_start).dt.date == period.start)]
    amount = _number(rows.value.iloc[0]) if len(rows) else None
    customers = int(rows.n.iloc[0]) if len(rows) else 0
    sign = -1 if name in ("mrr_contraction", "mrr_churned") else 1
    return Movement(name, get_metric(name).title, amount or 0.0, customers, sign)


def _segment_members(ws: ReportSource, where: tuple[tuple[str, str], ...]) -> set[str] | None:
    """The customer ids in the segment (None: everyone)."""
    if not where:
        return None
    customers = ws.warehouse.ibis.table("customers")
    condition = None
    for column, value in where:
        test = customer_attribute(customers, column) == value
        condition = test if condition is None else condition & test
    ids = ws.warehouse.ibis.execute(customers.filter(condition).select("customer_id"))
    if ids.empty:
        column, value = where[0]
        known = ws.warehouse.ibis.execute(
            customers.select(v=customer_attribute(customers, column)).distinct())["v"]
        choices = ", ".join(sorted(str(v) for v in known.dropna())[:20])
        raise UserInputError(f"--segment: no customer has {column} = {value!r} (with every "
                             f"condition); {column} values are: {choices}.")
    return set(ids["customer_id"])


def _at_risk(ws: ReportSource, period: Period, calendar: Calendar, members: set[str] | None
             ) -> tuple[tuple[AtRiskAccount, ...], int, int, str | None]:
    """Accounts in the red band or whose score fell ``FALL_POINTS`` over the period, by MRR;
    with churn probabilities when a churn model is trained."""
    scores = ws.health(period.end).scores
    before = ws.health(period.previous(calendar).end).scores[["customer_id", "score"]]
    scores = scores.drop(columns=["previous_score", "previous_as_of", "change"],
                         errors="ignore").merge(
        before.rename(columns={"score": "score_before"}), on="customer_id", how="left")
    scores["change"] = scores["score"] - scores["score_before"]
    if members is not None:
        scores = scores[scores.customer_id.isin(members)]
    risky = scores[(scores.band == "red") | (scores.change <= -FALL_POINTS)]
    risky = risky.sort_values(["mrr", "score"], ascending=[False, True])
    churn_note = None
    probabilities: dict[str, float] = {}
    try:
        churn = ws.churn_scores(period.end)
        probabilities = dict(zip(churn.customer_id, churn.probability, strict=True))
    except UserInputError as exc:
        churn_note = f"Churn risk is not shown: {exc}"
    accounts = []
    for row in risky.head(AT_RISK_ROWS).itertuples():
        change = _number(row.change)
        reasons = []
        if row.band == "red":
            reasons.append("red band")
        if change is not None and change <= -FALL_POINTS:
            reasons.append(f"score fell {-change:.0f} points")
        accounts.append(AtRiskAccount(
            customer_id=str(row.customer_id), name=str(row.name),
            owner="" if pd.isna(row.owner) else str(row.owner), mrr=float(row.mrr or 0.0),
            score=float(row.score), band=str(row.band), change=change,
            churn_probability=probabilities.get(str(row.customer_id)),
            reason=", ".join(reasons)))
    return tuple(accounts), len(risky), len(scores), churn_note


def _voice(ws: ReportSource, period: Period, where: tuple[tuple[str, str], ...]
           ) -> tuple[tuple[ThemeLine, ...], tuple[RequestLine, ...], list[str]]:
    """Top themes (with how many texts fell in the period) and top feature requests, known by
    the period's end, within the segment when there is one (a single-column segment)."""
    notes: list[str] = []
    by = where[0][0] if len(where) == 1 else None
    if len(where) > 1:
        notes.append("Voice of the customer covers every customer: themes and requests can "
                     "be narrowed to one segment column only.")
    themes: tuple[ThemeLine, ...] = ()
    try:
        report = ws.voice_themes(period=period.grain.value, as_of=period.end, by=by,
                                 save=False)
    except UserInputError as exc:
        notes.append(f"No themes: {exc}")
    else:
        summary = report.summary
        if by is not None:
            summary = summary[summary[by].astype(str) == where[0][1]]
        summary = summary[summary.theme != "(none)"]
        trend = report.trend
        counts = {} if by is not None else {
            r.theme: int(r.texts) for r in trend.itertuples()
            if pd.Timestamp(r.period_start).date() == period.start}
        ordered = summary.assign(in_period=summary.theme.map(counts).fillna(0)).sort_values(
            ["in_period", "texts"], ascending=False) if by is None else summary.sort_values(
            "texts", ascending=False)
        themes = tuple(
            ThemeLine(label=str(r.label), texts=int(r.texts),
                      in_period=None if by is not None else counts.get(r.theme, 0),
                      customers=int(r.customers), negative_share=_number(r.negative_share),
                      example=str(r.examples[0]) if len(r.examples) else "")
            for r in ordered.head(TOP_THEMES).itertuples())
    requests: tuple[RequestLine, ...] = ()
    ranked: Any = ws.voice_requests(as_of=period.end, by=by, save=False)
    frame = ranked.requests
    if by is not None and not frame.empty:
        frame = frame[frame[by].astype(str) == where[0][1]]
    requests = tuple(
        RequestLine(label=str(r.label), customers=int(r.customers), mrr=float(r.mrr or 0.0),
                    last_asked=None if pd.isna(r.last_asked) else r.last_asked,
                    status=str(r.status))
        for r in frame.head(TOP_REQUESTS).itertuples())
    return themes, requests, notes


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
