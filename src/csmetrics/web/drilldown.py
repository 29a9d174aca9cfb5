"""Drill-down pages: the customers behind a figure, with a total row that equals it.

- ``/drill/movement?kind=new&period=month&start=2026-03-01`` — an MRR movement (new,
  expansion, reactivation, contraction, churned) of one period, as the revenue page's
  movements chart shows it (clicking a bar opens this page);
- ``/drill/churn?period=month&start=...`` — the customers counted as churned by the
  customer churn rate of one period;
- ``/drill/cohort?kind=logo&cohort=2025-09-01&month=3&from=...&to=...`` — a cell of the
  retention page's cohort heatmap (clicking a cell opens this page).

Each accepts ``where=column=value`` (the pages' segment filter) and is exportable as CSV,
Excel and Parquet at ``/drill/<what>/export.<csv|xlsx|parquet>`` with the same query. The
lists come from ``csmetrics.metrics.drilldown``, which runs the per-customer rows the metrics
add up, so the count and total equal the figure on the revenue and retention pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from csmetrics.clock import parse_day
from csmetrics.errors import UserInputError
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.metrics.periods import Grain, next_start, period_start
from csmetrics.reports.export import FORMATS
from csmetrics.server import answers
from csmetrics.server.deps import Site
from csmetrics.web.pages import DOWNLOAD_ORDER, _file, _nav, _session, templates

router = APIRouter(include_in_schema=False)

#: The movements in the order the revenue page's chart stacks them, with their titles.
MOVEMENTS = {"new": "New MRR", "expansion": "Expansion MRR",
             "reactivation": "Reactivation MRR", "contraction": "Contraction MRR",
             "churned": "Churned MRR"}
WHATS = ("movement", "churn", "cohort")
GRAINS = {"week": Grain.WEEK, "month": Grain.MONTH, "quarter": Grain.QUARTER}


@dataclass(frozen=True)
class Drill:
    """One drill-down's answer: what it lists, the rows to export (raw numbers, readable
    headers), the figure they add up to as the metric reports it, and links around it."""

    title: str
    subtitle: str
    rows: pd.DataFrame
    #: Columns of ``rows`` that are money (formatted with the currency on the page).
    money: tuple[str, ...]
    total: dict[str, Any]
    figure: str
    links: list[dict[str, str]]


def drill_link(what: str, **params: Any) -> str:
    """The address of a drill-down page (``what``: movement, churn or cohort)."""
    return f"/drill/{what}?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


@router.get("/drill/{what}", response_class=HTMLResponse)
def drill_page(request: Request, what: str) -> Response:
    """The customers behind a movement, a churn figure or a cohort cell (see the module)."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    try:
        drill = _drill(site, what, dict(request.query_params))
    except UserInputError as exc:
        return Response(str(exc), status_code=400 if what in WHATS else 404)
    with site.reading() as ws:
        company, currency = ws.settings.workspace.name, ws.settings.workspace.currency
    query = urlencode(dict(request.query_params))
    money = set(drill.money)
    rows = [{c: (format_value(v, Unit.MONEY, currency) if c in money else v)
             for c, v in r.items()} for r in drill.rows.to_dict("records")]
    total = {c: (format_value(v, Unit.MONEY, currency) if c in money else v)
             for c, v in drill.total.items()}
    return templates.TemplateResponse(request, "drill.html", {
        "page": "revenue" if what == "movement" else "retention", "title": drill.title,
        "company": company, "user": session.user, "csrf": session.csrf, "pages": _nav(),
        "drill": drill, "columns": list(drill.rows.columns), "rows": rows, "total": total,
        "downloads": [{"format": f, "label": FORMATS[f].label,
                       "url": f"/drill/{what}/export{FORMATS[f].extension}?{query}"}
                      for f in DOWNLOAD_ORDER],
    })


@router.get("/drill/{what}/export.{fmt}")
def drill_export(request: Request, what: str, fmt: str) -> Response:
    """A drill-down's rows as CSV, Excel or Parquet (numbers unformatted, no total row)."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if fmt not in FORMATS:
        return Response(f"No download as .{fmt}; use .csv, .xlsx or .parquet.", status_code=404)
    site: Site = request.app.state.site
    try:
        drill = _drill(site, what, dict(request.query_params))
    except UserInputError as exc:
        return Response(str(exc), status_code=400 if what in WHATS else 404)
    with site.reading() as ws:
        zone = ws.settings.workspace.timezone
    return _file(drill.rows, fmt, "drill", what, zone)


def _drill(site: Site, what: str, params: dict[str, str]) -> Drill:
    if what == "movement":
        return _movement(site, params)
    if what == "churn":
        return _churn(site, params)
    if what == "cohort":
        return _cohort(site, params)
    raise UserInputError(f"No drill-down {what!r}; use movement, churn or cohort.")


def _period(params: dict[str, str]) -> tuple[Grain, date, date, tuple[tuple[str, str], ...]]:
    """The grain, first and last day of the period asked for, and the segment filter."""
    name = params.get("period", "month")
    if name not in GRAINS:
        raise UserInputError(f"period={name!r} is not one of {', '.join(GRAINS)}.")
    grain = GRAINS[name]
    day = parse_day(params.get("start") or None, "start")
    if day is None:
        raise UserInputError("Say which period: start=YYYY-MM-DD (its first day).")
    first = period_start(day, grain)
    column, sep, value = params.get("where", "").partition("=")
    where = ((column, value),) if sep and column and value else ()
    return grain, first, next_start(first, grain) - timedelta(days=1), where


def _label(grain: Grain, first: date) -> str:
    if grain is Grain.MONTH:
        return first.strftime("%B %Y")
    if grain is Grain.QUARTER:
        return f"Q{(first.month - 1) // 3 + 1} {first.year}"
    return f"week of {first}"


def _people(site: Site, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each customer's name, plan and owner (the customers list's)."""
    with site.reading() as ws:
        people = answers.customer_list(site, ws)[["customer_id", "name", "plan", "owner"]]
    out = frame.merge(people, on="customer_id", how="left")
    out["name"] = out["name"].fillna(out["customer_id"])
    return out


def _period_links(what: str, grain: Grain, first: date, where: str, **extra: str
                  ) -> list[dict[str, str]]:
    earlier = period_start(first - timedelta(days=1), grain)
    later = next_start(first, grain)
    common = {"period": grain.value, "where": where, **extra}
    return [{"label": f"← {_label(grain, earlier)}",
             "url": drill_link(what, **common, start=earlier)},
            {"label": f"{_label(grain, later)} →", "url": drill_link(what, **common, start=later)}]


def _movement(site: Site, params: dict[str, str]) -> Drill:
    from csmetrics.metrics.drilldown import movement_list
    kind = params.get("kind", "")
    if kind not in MOVEMENTS:
        raise UserInputError(f"kind={kind!r} is not an MRR movement; use one of "
                             f"{', '.join(MOVEMENTS)}.")
    grain, first, last, where = _period(params)
    metrics = [f"mrr_{k}" for k in MOVEMENTS]
    with site.reading() as ws:
        listed = movement_list(ws.warehouse.ibis, ws.settings, kind, grain, first, where,
                               today=ws.today())
        figures = ws.query(metrics, period=grain.value, start=first, end=last,
                           where=dict(where) or None, stored=True)
        currency = ws.settings.workspace.currency
    rows = _people(site, listed)
    rows = rows[["customer_id", "name", "plan", "owner", "mrr_prev", "mrr_cur", "amount"]]
    rows.columns = ["Customer ID", "Name", "Plan", "Owner", "MRR before", "MRR after",
                    MOVEMENTS[kind]]
    mine = figures[figures.metric == f"mrr_{kind}"]
    shown = "" if mine.empty else (
        f"The revenue page shows {format_value(_num(mine.value.iloc[0]), Unit.MONEY, currency)}"
        f" from {int(mine.n.iloc[0])} customers.")
    links = [{"label": f"{title}: {format_value(_num(f.value.iloc[0]), Unit.MONEY, currency)}"
                       f" ({int(f.n.iloc[0])})" if not f.empty else title,
              "url": drill_link("movement", kind=k, period=grain.value, start=first,
                                where=params.get("where", "")),
              "current": k == kind}
             for k, title in MOVEMENTS.items()
             for f in [figures[figures.metric == f"mrr_{k}"]]]
    segment = f" · {where[0][0]} = {where[0][1]}" if where else ""
    return Drill(
        title=f"{MOVEMENTS[kind]}, {_label(grain, first)}",
        subtitle=f"Customers whose movement in {first} to {last} is {kind}{segment}: their MRR "
                 f"at the end of the previous period (before) and of this one (after). {shown}",
        rows=rows, money=("MRR before", "MRR after", MOVEMENTS[kind]),
        total={"Customer ID": f"Total: {_customers(len(rows))}",
               "MRR before": float(rows["MRR before"].sum()),
               "MRR after": float(rows["MRR after"].sum()),
               MOVEMENTS[kind]: float(rows[MOVEMENTS[kind]].sum())},
        figure=shown, links=links + _period_links("movement", grain, first,
                                                  params.get("where", ""), kind=kind))


def _churn(site: Site, params: dict[str, str]) -> Drill:
    from csmetrics.metrics.drilldown import churn_list
    grain, first, last, where = _period(params)
    with site.reading() as ws:
        listed = churn_list(ws.warehouse.ibis, ws.settings, grain, first, where,
                            today=ws.today())
        figures = ws.query("customer_churn_rate", period=grain.value, start=first, end=last,
                           where=dict(where) or None, stored=True)
    rows = _people(site, listed)
    rows["within"] = rows["within"].map({True: "joined and left inside the period",
                                         False: "customer at the start, not at the end"})
    rows = rows[["customer_id", "name", "plan", "owner", "mrr_prev", "mrr_cur", "within"]]
    rows.columns = ["Customer ID", "Name", "Plan", "Owner", "MRR before", "MRR after",
                    "Counted as"]
    shown = ""
    if not figures.empty and not pd.isna(figures.value.iloc[0]):
        rate = format_value(_num(figures.value.iloc[0]), Unit.RATE)
        shown = (f"The customer churn rate is {rate}: {int(figures.churned.iloc[0])} "
                 f"churned of {int(figures.n.iloc[0])} customers at the start.")
    segment = f" · {where[0][0]} = {where[0][1]}" if where else ""
    return Drill(
        title=f"Churned customers, {_label(grain, first)}",
        subtitle=f"Customers lost in {first} to {last}{segment}. {shown}", rows=rows,
        money=("MRR before", "MRR after"),
        total={"Customer ID": f"Total: {_customers(len(rows))}",
               "MRR before": float(rows["MRR before"].sum()),
               "MRR after": float(rows["MRR after"].sum())},
        figure=shown, links=_period_links("churn", grain, first, params.get("where", "")))


def _cohort(site: Site, params: dict[str, str]) -> Drill:
    from csmetrics.metrics.drilldown import cohort_list
    kind = params.get("kind", "logo")
    if kind not in ("logo", "revenue"):
        raise UserInputError(f"kind={kind!r} is not a cohort table; use logo or revenue.")
    cohort = parse_day(params.get("cohort") or None, "cohort")
    if cohort is None:
        raise UserInputError("Say which cohort: cohort=YYYY-MM-01 (its start month).")
    try:
        month = int(params.get("month", ""))
    except ValueError:
        raise UserInputError("Say which month since start: month=0, 1, 2, ...") from None
    start = parse_day(params.get("from") or None, "from")
    end = parse_day(params.get("to") or None, "to")
    with site.reading() as ws:
        listed = cohort_list(ws.warehouse.ibis, ws.settings, cohort, month, start, end,
                             today=ws.today())
    rows = _people(site, listed)
    rows["paying"] = rows["paying"].map({True: "yes", False: "no"})
    rows = rows[["customer_id", "name", "plan", "owner", "mrr_0", "mrr", "paying"]]
    rows.columns = ["Customer ID", "Name", "Plan", "Owner", "Starting MRR (month 0)",
                    f"MRR in month {month}", "Paying"]
    paying = int((rows["Paying"] == "yes").sum())
    base = float(rows["Starting MRR (month 0)"].sum())
    now = float(rows[f"MRR in month {month}"].sum())
    cell = (paying / len(rows) if len(rows) else None) if kind == "logo" else (
        now / base if base else None)
    value = format_value(cell, Unit.RATE)
    return Drill(
        title=f"Cohort {cohort:%B %Y}, month {month}",
        subtitle=f"The customers who started paying in {cohort:%B %Y}, and whether they pay "
                 f"at the end of month {month} since. {'Logo' if kind == 'logo' else 'Revenue'}"
                 f" retention of the cell: {value}.",
        rows=rows, money=("Starting MRR (month 0)", f"MRR in month {month}"),
        total={"Customer ID": f"Total: {_customers(len(rows))}", "Starting MRR (month 0)": base,
               f"MRR in month {month}": now, "Paying": f"{paying} ({value})"},
        figure=value, links=[])


def _customers(count: int) -> str:
    return f"{count} customer{'' if count == 1 else 's'}"


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
