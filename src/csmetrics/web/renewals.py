"""The renewals page: subscriptions renewing in the 30, 60 or 90 days after the data's last
day, with the ARR at risk per health band; exportable like every table.

The renewal dates and values follow the rule of ``csmetrics.reports.renewals``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.reports.export import FORMATS
from csmetrics.reports.renewals import WINDOWS, at_risk, renewals
from csmetrics.server.deps import Site
from csmetrics.web import views
from csmetrics.web.pages import DOWNLOAD_ORDER, _file, _nav, _session, templates

router = APIRouter(include_in_schema=False)

#: Readable headers of the exported rows.
HEADERS = {"customer_id": "Customer ID", "name": "Name", "owner": "Owner", "plan": "Plan",
           "billing_interval": "Interval", "next_renewal": "Renewal date", "arr": "ARR",
           "renewal_value": "Renewal value", "band": "Health band",
           "subscription_id": "Subscription"}


#: What the billing picker offers: every subscription, or contracts only (billed quarterly
#: or yearly, whose renewal is a decision), since a monthly plan "renews" every month.
BILLING = {"all": ("All subscriptions", None), "contracts": (
    "Contracts (quarterly and annual)", ("quarter", "year"))}


def _window(days: str) -> int:
    """The window asked for; anything but 30, 60 or 90 gets 90."""
    return int(days) if days in {str(w) for w in WINDOWS} else WINDOWS[-1]


def _billing(billing: str) -> str:
    """The billing choice asked for; anything unknown gets every subscription."""
    return billing if billing in BILLING else "all"


def _of_billing(due: pd.DataFrame, billing: str) -> pd.DataFrame:
    """The renewals of the intervals ``billing`` keeps."""
    intervals = BILLING[billing][1]
    return due if intervals is None else due[due["billing_interval"].isin(intervals)]


def renewal_rows(site: Site, within: int) -> tuple[date, pd.DataFrame]:
    """The data's last day, and the subscriptions renewing within ``within`` days after it
    (see ``reports.renewals.renewals``)."""
    from csmetrics.metrics.drilldown import subscription_mrr

    def compute() -> tuple[date, pd.DataFrame]:
        with site.reading() as ws:
            day = site.remember("data end", ws.data_end)
            subscriptions = subscription_mrr(ws.warehouse.ibis, ws.settings, day,
                                             today=ws.today())
        customers = views.customer_table(site)
        return day, renewals(subscriptions, customers, day, within)
    return site.remember(("renewals", within), compute)


@router.get("/renewals", response_class=HTMLResponse)
def renewals_page(request: Request, days: str = "90", billing: str = "all") -> Response:
    """Subscriptions (or contracts only) renewing soon, soonest first, and the ARR at risk
    per health band."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    within, billing = _window(days), _billing(billing)
    day, due = renewal_rows(site, within)
    due = _of_billing(due, billing)
    with site.reading() as ws:
        company, currency = ws.settings.workspace.name, ws.settings.workspace.currency
    money = lambda v: format_value(v, Unit.MONEY, currency)  # noqa: E731
    bands = at_risk(due)
    return templates.TemplateResponse(request, "renewals.html", {
        "page": "renewals", "title": "Renewals", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(), "day": day, "within": within,
        "windows": WINDOWS, "money": money, "billing": billing,
        "billings": {k: label for k, (label, _) in BILLING.items()},
        "rows": due.to_dict("records"), "bands": bands.to_dict("records"),
        "total_arr": money(float(due["arr"].sum())),
        "downloads": [{"format": f, "label": FORMATS[f].label,
                       "url": f"/renewals/export{FORMATS[f].extension}?days={within}"
                              f"&billing={billing}"}
                      for f in DOWNLOAD_ORDER],
    })


@router.get("/renewals/export.{fmt}")
def renewals_export(request: Request, fmt: str, days: str = "90", billing: str = "all"
                    ) -> Response:
    """The renewals page's rows as CSV, Excel or Parquet."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if fmt not in FORMATS:
        return Response(f"No download as .{fmt}; use .csv, .xlsx or .parquet.", status_code=404)
    site: Site = request.app.state.site
    within = _window(days)
    _, due = renewal_rows(site, within)
    due = _of_billing(due, _billing(billing))
    with site.reading() as ws:
        zone = ws.settings.workspace.timezone
    return _file(due.rename(columns=HEADERS), fmt, "renewals", f"next-{within}-days", zone)
