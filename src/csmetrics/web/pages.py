"""Dashboard pages: sign-in, overview and revenue, each chart with the CSV behind it."""

from __future__ import annotations

import functools
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import pandas as pd
import plotly
from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from csmetrics.clock import parse_day
from csmetrics.errors import FieldError, UserInputError
from csmetrics.health.scorecard import BAND_LABELS
from csmetrics.metrics import get_metric
from csmetrics.metrics.definition import Direction, Unit
from csmetrics.metrics.engine import unloaded_sources
from csmetrics.metrics.formatting import (
    benchmark_text,
    column_label,
    format_change,
    format_value,
)
from csmetrics.metrics.periods import Grain, period_start
from csmetrics.reports.customer360 import NOTE_MAX_CHARS, note_file
from csmetrics.reports.customers import select_customers
from csmetrics.reports.export import FORMATS, content_disposition, download_name, frame_bytes
from csmetrics.schema import TABLES
from csmetrics.server import answers
from csmetrics.server.bodies import public_message, receive_upload
from csmetrics.server.deps import Site
from csmetrics.server.signin import sign_in
from csmetrics.web import charts, sessions, views

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _freshness(request: Request) -> str:
    """"data through DATE · refreshed at TIME" for the header of every page (nav.html)."""
    site: Site = request.app.state.site
    with site.reading() as ws:
        return str(site.remember("freshness", ws.freshness))


templates.env.globals["freshness"] = _freshness
templates.env.filters["label"] = column_label  # snake_case names as headers for people
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

OVERVIEW_TILES = ("mrr", "nrr", "grr", "customer_churn_rate", "nps", "csat", "ltv_cac_ratio")


@dataclass(frozen=True)
class Chart:
    """One chart of a page: the metrics it draws and how (``lines`` over time, one line per
    ``segment`` value when given; ``bars`` of the last period by ``segment``; ``movements``)."""

    key: str
    title: str
    metrics: tuple[str, ...]
    kind: str = "lines"
    segment: str | None = None


PAGES: dict[str, tuple[str, tuple[Chart, ...]]] = {
    "overview": ("Overview", (
        Chart("mrr", "MRR", ("mrr",)),
        Chart("retention", "Net and gross revenue retention", ("nrr", "grr")),
    )),
    "revenue": ("Revenue", (
        Chart("mrr", "MRR over time", ("mrr",)),
        Chart("movements", "MRR movements", ("mrr_new", "mrr_expansion", "mrr_reactivation",
                                             "mrr_contraction", "mrr_churned", "net_new_mrr"),
              "movements"),
        Chart("retention", "NRR and GRR", ("nrr", "grr")),
        Chart("arpa", "ARPA (MRR per account)", ("arpa",)),
        Chart("quick_ratio", "Quick ratio", ("quick_ratio",)),
    )),
    "retention": ("Retention", (
        Chart("churn", "Customer churn and retention", ("customer_churn_rate",
                                                        "customer_retention_rate")),
        Chart("churn_by_plan", "Customer churn by plan (last period)", ("customer_churn_rate",),
              "bars", "plan"),
        Chart("churn_by_owner", "Customer churn by owner (last period)",
              ("customer_churn_rate",), "bars", "owner"),
        Chart("trailing", "NRR and GRR, trailing 12 months", ("nrr_trailing_12m",
                                                              "grr_trailing_12m")),
    )),
    "customers": ("Customers", ()),
    "renewals": ("Renewals", ()),  # web/renewals.py
    "voice": ("Voice of the customer", (
        Chart("nps", "NPS with 95 % interval", ("nps",)),
        Chart("csat", "CSAT with 95 % interval", ("csat",)),
        Chart("ces", "CES with 95 % interval", ("ces",)),
        Chart("negative", "Share of negative comments", ("negative_comment_share",)),
        Chart("employees", "Rating per employee", ("employee_rating",), "lines", "employee"),
        Chart("locations", "Public reviews by location (last period)",
              ("public_review_rating",), "bars", "location"),
    )),
    "support": ("Support", (
        Chart("fcr", "First contact resolution", ("first_contact_resolution_rate",)),
        Chart("load", "Tickets per customer", ("tickets_per_customer",)),
        Chart("response", "Hours to first response (median)", ("time_to_first_response",)),
        Chart("resolution", "Hours to resolution (median)", ("time_to_resolution",)),
    )),
    "usage": ("Usage", (
        Chart("active", "DAU, WAU, MAU", ("dau", "wau", "mau")),
        Chart("stickiness", "Stickiness (DAU / MAU)", ("stickiness",)),
        Chart("adoption", "Feature adoption (last period)", ("feature_adoption",), "bars",
              "event"),
        Chart("unlock", "Value unlock: retention of adopters minus others (last period)",
              ("value_unlock",), "bars", "event"),
        Chart("ttv", "Days to first value (median, by start month)", ("time_to_value",)),
    )),
    "acquisition": ("Acquisition", (
        Chart("conversion", "Conversion rate", ("conversion_rate",)),
        Chart("cac", "CAC", ("cac",)),
        Chart("ltv_cac", "LTV : CAC", ("ltv_cac_ratio",)),
        Chart("warm", "New customers from referrals and organic channels",
              ("referral_share_of_new", "organic_share_of_new")),
    )),
    "tasks": ("Tasks", ()),
    "data": ("Data", ()),
}


def mount(app: FastAPI) -> None:
    """Add the dashboard's routes and its static files to the app."""
    from csmetrics.web import drilldown, renewals  # they import this module
    app.include_router(drilldown.router)  # before the catch-all /{page} of ``router``
    app.include_router(renewals.router)
    app.include_router(router)


router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class View:
    """What a page was asked to show: grain, range and one segment filter."""

    period: str
    start: date
    end: date
    where: str
    #: Why a date in the address was not used (the default is shown instead).
    problems: tuple[str, ...] = ()

    @property
    def filters(self) -> dict[str, str] | None:
        column, sep, value = self.where.partition("=")
        return {column: value} if sep and value else None

    def query(self) -> str:
        return f"period={self.period}&from={self.start}&to={self.end}&where={self.where}"


def _view(site: Site, period: str, start: str | None, end: str | None, where: str) -> View:
    grain = {"quarter": Grain.QUARTER, "week": Grain.WEEK}.get(period, Grain.MONTH)
    with site.reading() as ws:
        last = site.remember("data end", ws.data_end)
    # by default up to the data end: a period it cuts short is drawn, marked partial
    problems: list[str] = []
    finish = _date_or(end, last, "to", problems)
    span = {Grain.WEEK: 7 * 12, Grain.MONTH: 365, Grain.QUARTER: 365 * 2}[grain]
    first = _date_or(start, period_start(finish - timedelta(days=span), grain), "from",
                     problems)
    if first > finish:
        first = period_start(finish, grain)
    return View(grain.value, first, finish, where, tuple(problems))


def _date_or(text: str | None, default: date, field: str, problems: list[str]) -> date:
    """A date typed in the picker (``field``), or the default when it is empty; a date that
    is malformed or outside the supported range also gets the default, and ``problems``
    the reason."""
    try:
        return (parse_day(text, field) if text else None) or default
    except FieldError as exc:
        problems.append(str(exc))
        return default


def _session(request: Request) -> sessions.Session | None:
    site: Site = request.app.state.site
    with site.reading() as ws:
        return sessions.lookup(ws.app, request.cookies.get(sessions.COOKIE),
                               ws.clock.now())


def form_session(request: Request, csrf: str, editor_for: str = ""
                 ) -> tuple[sessions.Session, None] | tuple[None, Response]:
    """The session behind a submitted form, or the answer refusing it: to the sign-in page
    without a session, 403 for a stale or forged CSRF token, and 403 when ``editor_for``
    names what needs the editor role and the user lacks it."""
    session = _session(request)
    if session is None:
        return None, RedirectResponse("/login", status_code=303)
    if not sessions.same(csrf, session.csrf):
        return None, Response("The form expired; reload the page.", status_code=403)
    if editor_for and not session.user.may("editor"):
        return None, Response(f"{editor_for} needs the editor role; {session.user.username} "
                              f"is a {session.user.role}.", status_code=403)
    return session, None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.url.hostname in ("localhost", "127.0.0.1")


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js from the plotly package: no CDN, no internet."""
    return FileResponse(PLOTLY_JS, media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/app.css")
def stylesheet() -> FileResponse:
    """The dashboard's stylesheet."""
    return FileResponse(HERE / "static" / "app.css", media_type="text/css")


@router.get("/static/plotly.css")
def plotly_css() -> Response:
    """plotly.js's own style rules as a stylesheet: under the Content-Security-Policy
    (style-src 'self') plotly may not inject them, and the pages tell it not to try."""
    return Response(_plotly_rules(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=86400"})


@functools.cache
def _plotly_rules() -> str:
    """The rules plotly.js would add to a <style> element, read from the bundle (its
    ``{"X,X div": "...", ...}`` table: X is a plot, Y the notifier); empty if not found."""
    bundle = PLOTLY_JS.read_text(encoding="utf-8")
    start = bundle.find('{"X,X div":')
    end = bundle.find("};", start)
    if start < 0 or end < 0:
        return ""
    text = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    rules = []
    for selector, body in re.findall(text + ":" + text, bundle[start:end + 1]):
        selector = selector[1:-1].replace("X", ".js-plotly-plot .plotly").replace(
            "Y", ".plotly-notifier")
        rules.append(f"{selector}{{{body[1:-1]}}}")
    return "\n".join(rules) + "\n"


@router.get("/static/charts.js")
def charts_js() -> FileResponse:
    """The script that draws every page's charts (no inline scripts: see the CSP)."""
    return FileResponse(HERE / "static" / "charts.js", media_type="application/javascript")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str = "") -> Response:
    """The sign-in form (with a CSRF token bound to a cookie)."""
    return _login_page(request, error)


def _login_page(request: Request, error: str, retry_after: int = 0) -> Response:
    token = secrets.token_urlsafe(24)
    wait = (f"{-(-retry_after // 60)} minute(s)" if retry_after > 90
            else f"{retry_after} seconds")
    response = templates.TemplateResponse(request, "login.html", {
        "csrf": token, "error": error, "wait": wait})
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request))
    return response


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf: Annotated[str, Form()]) -> Response:
    """Check the password (throttled: see ``csmetrics.server.signin``) and start a session.
    Too many failures for the account or the address: the form again, with 429 and
    Retry-After, without looking at the password."""
    if not sessions.same(csrf, request.cookies.get(sessions.LOGIN_CSRF_COOKIE)):
        return RedirectResponse("/login?error=expired", status_code=303)
    site: Site = request.app.state.site
    outcome = sign_in(site, username, password, request.client.host if request.client else "")
    if outcome.retry_after:
        refused = _login_page(request, "throttled", outcome.retry_after)
        refused.status_code = 429
        refused.headers["Retry-After"] = str(outcome.retry_after)
        return refused
    user = outcome.user
    if user is None:
        return RedirectResponse("/login?error=wrong", status_code=303)
    with site.signing_in() as ws:
        session_id = sessions.start(ws.app, user, ws.clock.now())
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(sessions.COOKIE, session_id, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=int(sessions.LIFETIME.total_seconds()))
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()]) -> Response:
    """End the session."""
    session = _session(request)
    if session is None or not sessions.same(csrf, session.csrf):
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    with site.signing_in() as ws:
        sessions.end(ws.app, request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, period: str = "month", to: str | None = None,
             where: str = "") -> Response:
    """KPI tiles with sparklines, change, target gap and benchmark; MRR and retention."""
    return _page(request, "overview", period, request.query_params.get("from"), to, where)


#: Customers shown per page of the list (the downloads hold every matching one).
PAGE_SIZE = 50
#: The customers list's columns: (sort key, header).
CUSTOMER_COLUMNS = (("name", "Customer"), ("band", "Health"), ("score", "Score"),
                    ("coverage", "Coverage"), ("change", "Score change"), ("owner", "Owner"),
                    ("plan", "Plan"), ("region", "Region"), ("mrr", "MRR"), ("arr", "ARR"),
                    ("mrr_change", "MRR change"), ("risk", "Churn risk"))


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, sort: str = "-mrr", band: str = "", owner: str = "",
                   plan: str = "", region: str = "", q: str = "", days: str = "30",
                   page: str = "1") -> Response:
    """Every customer, 50 a page: health band, score, coverage, score change, owner, plan,
    region, MRR, ARR, MRR change and churn risk. The period picker (``days``: 7, 30 or 90)
    sets the window of both change columns, counted back from the data end: a CSM opening
    the list in the morning asks "who moved lately", not "how did last month close"."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    filters = {"band": band, "owner": owner, "plan": plan, "region": region}
    window = _change_days(days)
    frame, options = _customer_rows(site, sort, filters, q, window)
    pages = max(1, -(-len(frame) // PAGE_SIZE))
    number = min(max(_int(page, 1), 1), pages)
    first = (number - 1) * PAGE_SIZE
    base = {"q": q, **filters, "days": window}
    query = urlencode({"sort": sort, **base})
    with site.reading() as ws:
        company, currency = ws.settings.workspace.name, ws.settings.workspace.currency
    return templates.TemplateResponse(request, "customers.html", {
        "page": "customers", "title": "Customers", "company": company, "user": session.user,
        "csrf": session.csrf, "rows": frame.iloc[first:first + PAGE_SIZE].to_dict("records"),
        "total": len(frame), "first": first + 1 if len(frame) else 0,
        "last": min(first + PAGE_SIZE, len(frame)), "number": number,
        "page_links": [{"number": n, "url": "?" + urlencode({"sort": sort, **base, "page": n})}
                       for n in _page_numbers(number, pages)],
        "headers": _sort_headers(sort, base), "days": window,
        "day_choices": answers.CHANGE_DAYS, "labels": BAND_LABELS,
        "currency": currency, "sort": sort, "filters": filters, "options": options, "q": q,
        "pages": _nav(), "downloads": _downloads("customers", "customers", query),
    })


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _change_days(text: str) -> int:
    """The period picker's window; a hand-edited value falls back to 30 days."""
    days = _int(text, 30)
    return days if days in answers.CHANGE_DAYS else 30


def _page_numbers(current: int, pages: int) -> list[int]:
    """The page links to show: the first, the last, and two on each side of the current."""
    near = range(max(1, current - 2), min(pages, current + 2) + 1)
    return sorted({1, pages, *near})


def _sort_headers(sort: str, base: dict[str, Any]) -> list[dict[str, str]]:
    """Each column header: its label, the link that sorts by it (toggling the direction when
    it is the sorted column; largest first otherwise, by name A-Z) and, on the sorted one, its
    arrow and ``aria-sort``."""
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    headers = []
    for column, label in CUSTOMER_COLUMNS:
        if column == key:
            target = column if descending else f"-{column}"
            arrow, aria = ("▼", "descending") if descending else ("▲", "ascending")
        else:
            target = column if column in ("name", "owner", "plan", "region", "band") \
                else f"-{column}"
            arrow, aria = "", ""
        headers.append({"key": column, "label": label, "arrow": arrow, "aria": aria,
                        "url": "?" + urlencode({"sort": target, **base})})
    return headers


def _customer_rows(site: Site, sort: str, filters: dict[str, str], q: str, days: int = 30
                   ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The customers page's rows (filtered, searched, sorted: all of them, not one page) and
    each filter's choices; ``days``: the window of the change columns."""
    frame = views.customer_table(site, days)
    options = {k: sorted(str(v) for v in frame[k].dropna().unique()) for k in filters}
    try:
        rows = select_customers(frame, search=q, sort=sort, **filters)
    except UserInputError:  # a hand-edited ?sort=: the default order
        rows = select_customers(frame, search=q, **filters)
    return rows, options


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: str, message: str = "", error: str = ""
                  ) -> Response:
    """One customer: ARR and MRR, current subscriptions and the next renewal, owner, last
    touch, health with its trend, churn drivers, open tasks, MRR and usage over time,
    tickets, survey answers, activities and comments; editors log a note here."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    view = views.customer_view(site, customer_id)
    if view is None:
        return Response(f"There is no customer {customer_id!r}.", status_code=404)
    with site.reading() as ws:
        company = ws.settings.workspace.name
        tasks = ws.tasks.list(status="open", customer=customer_id).head(20)
    return templates.TemplateResponse(request, "customer.html", {
        "page": "customers", "title": view["name"], "company": company,
        "user": session.user, "csrf": session.csrf, "view": view, "pages": _nav(),
        "tasks": tasks.to_dict("records"), "message": message, "error": error,
        "may_note": session.user.may("editor"), "note_max": NOTE_MAX_CHARS,
    }, status_code=400 if error else 200)


@router.post("/customers/{customer_id}/notes")
def log_note(request: Request, customer_id: str, csrf: Annotated[str, Form()],
             text: Annotated[str, Form()] = "") -> Response:
    """Log a note on the customer (editors): an ``activities`` row of kind "note" by the
    user, loaded like any file (the ledger says "<user> (dashboard)"); back to the page,
    where it shows as the last touch. An empty or over-long note is refused, saying why."""
    session, refusal = form_session(request, csrf, editor_for="Logging a note")
    if refusal is not None:
        return refusal
    site: Site = request.app.state.site
    with site.reading() as ws:
        known = ws.warehouse.sql.execute("SELECT count(*) FROM customers WHERE customer_id = ?",
                                         [customer_id]).fetchall()[0][0]
    if not known:
        return Response(f"There is no customer {customer_id!r}.", status_code=404)
    user = session.user.username
    try:
        with tempfile.TemporaryDirectory(prefix="csmetrics-note-") as folder, \
                site.writing() as ws:
            path = note_file(Path(folder), customer_id, text, user, ws.clock.now())
            ws.ingest("activities", [path], loaded_by=f"{user} (dashboard)")
    except UserInputError as exc:
        return customer_page(request, customer_id, error=public_message(
            str(exc), site.workspace.root))
    return RedirectResponse(f"/customers/{quote(customer_id, safe='')}?message="
                            f"{quote('Note saved.')}#account", status_code=303)


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, message: str = "", error: str = "") -> Response:
    """Load a file into a table (editors and admins), and the ledger of loads."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    with site.reading() as ws:
        company = ws.settings.workspace.name
        batches = [{"batch": b.batch_id, "table": b.table, "files": ", ".join(
            Path(f).name for f in b.files), "inserted": b.inserted, "updated": b.updated,
            "unchanged": b.unchanged, "by": b.loaded_by,
            "at": b.loaded_at.isoformat(timespec="seconds")} for b in ws.batches()[:20]]
    return templates.TemplateResponse(request, "data.html", {
        "page": "data", "title": "Data", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(), "tables": list(TABLES), "batches": batches,
        "message": message, "error": error, "may_load": session.user.may("editor"),
    })


@router.post("/data/upload", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    """Validate and load an uploaded file, all or nothing. The session and the editor role
    are checked before the body is read (viewers are refused unread), and a body over
    ``[server] max_upload_mb`` is refused (413) without being stored."""
    session = await run_in_threadpool(_session, request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if not session.user.may("editor"):
        return Response(f"Loading data needs the editor role; {session.user.username} is a "
                        f"{session.user.role}.", status_code=403)
    site: Site = request.app.state.site
    limit = site.workspace.settings.server.max_upload_mb
    with tempfile.TemporaryDirectory(prefix="csmetrics-upload-") as folder:
        try:
            received = await receive_upload(request, limit, Path(folder), also=("mapping",))
        except HTTPException as exc:
            if exc.status_code != 413:
                raise
            refused = await run_in_threadpool(data_page, request, "", str(exc.detail))
            refused.status_code = 413
            return refused
        except FieldError as exc:  # a file named '..', with folders or without a name
            refused = await run_in_threadpool(data_page, request, "", str(exc))
            refused.status_code = 400
            return refused
        if not sessions.same(received.fields.get("csrf"), session.csrf):
            return Response("The form expired; reload the page.", status_code=403)
        if received.path is None:
            return await run_in_threadpool(data_page, request, "", "Choose a file to load.")
        path, table = received.path, received.fields.get("table", "")
        mapping = received.others.get("mapping")  # optional TOML mapping file
        replace = received.fields.get("replace", "").lower() in ("true", "on", "1")
        replace_columns = received.fields.get("replace_columns", "").lower() in (
            "true", "on", "1")

        def load() -> tuple[str, str]:
            try:
                with site.writing() as ws:
                    result = ws.ingest(table, [path], mapping=mapping, replace=replace,
                                       replace_columns=replace_columns,
                                       loaded_by=f"{session.user.username} (dashboard)")
            except UserInputError as exc:
                return "", public_message(str(exc), site.workspace.root)
            return result.summary(), ""

        message, error = await run_in_threadpool(load)
    return await run_in_threadpool(data_page, request, message, error)


@router.get("/{page}", response_class=HTMLResponse)
def metric_page(request: Request, page: str, period: str = "month", to: str | None = None,
                where: str = "") -> Response:
    """A page of metric charts: revenue, retention, voice, support, usage, acquisition."""
    if page not in PAGES or page in ("overview", "customers", "tasks", "data"):
        return Response(f"There is no page {page!r}.", status_code=404)
    return _page(request, page, period, request.query_params.get("from"), to, where)


@router.get("/download/{page}/{chart}.{fmt}")
def download(request: Request, page: str, chart: str, fmt: str, period: str = "month",
             to: str | None = None, where: str = "") -> Response:
    """The rows behind one chart or table, as CSV, Excel (.xlsx) or Parquet."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if fmt not in FORMATS:
        return Response(f"No download as .{fmt}; use .csv, .xlsx or .parquet.",
                        status_code=404)
    site: Site = request.app.state.site
    with site.reading() as ws:
        zone = ws.settings.workspace.timezone
    if page == "customers" and chart == "customers":
        params = request.query_params
        frame, _ = _customer_rows(site, params.get("sort", "-mrr"), {
            k: params.get(k, "") for k in ("band", "owner", "plan", "region")},
            params.get("q", ""), _change_days(params.get("days", "30")))
        return _file(frame, fmt, page, chart, zone)
    view = _view(site, period, request.query_params.get("from"), to, where)
    if view.problems:
        return Response(" ".join(view.problems), status_code=400)
    spec = next((c for c in PAGES.get(page, ("", ()))[1] if c.key == chart), None)
    if spec is not None:
        frame = _chart_frame(site, spec, view, _frame(site, spec.metrics, view))
    else:
        found = [t for k, _, _, t in views.extras(site, page, view) if k == chart] + [
            t for k, _, t in views.tables(site, page, view) if k == chart]
        if not found:
            return Response(f"No chart {chart!r} on page {page!r}.", status_code=404)
        frame = found[0]
    return _file(frame, fmt, page, chart, zone)


def _file(frame: pd.DataFrame, fmt: str, page: str, chart: str, zone: str) -> Response:
    content, media_type = frame_bytes(frame, fmt, sheet=f"{page}-{chart}", timezone=zone)
    name = download_name(f"{page}-{chart}", fmt)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": content_disposition(name)})


#: The order download links are offered in, under each chart and table.
DOWNLOAD_ORDER = ("csv", "xlsx", "parquet")


def _downloads(page: str, key: str, query: str) -> list[dict[str, str]]:
    """The links to one chart's or table's rows in every export format."""
    return [{"format": fmt, "label": FORMATS[fmt].label,
             "url": f"/download/{page}/{key}{FORMATS[fmt].extension}?{query}"}
            for fmt in DOWNLOAD_ORDER]


def _frame(site: Site, metrics: tuple[str, ...], view: View) -> pd.DataFrame:
    with site.reading() as ws:
        return ws.query(list(metrics), period=view.period, start=view.start, end=view.end,
                        where=view.filters, stored=True)


def _page(request: Request, page: str, period: str, start: str | None, end: str | None,
          where: str) -> Response:
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    view = _view(site, period, start, end, where)
    content = site.remember(("page", page, view), lambda: _page_content(site, page, view))
    return templates.TemplateResponse(request, "page.html", {
        **content, "user": session.user, "csrf": session.csrf,
    }, status_code=400 if view.problems else 200)


def _page_content(site: Site, page: str, view: View) -> dict[str, Any]:
    """What a page of charts shows of ``view``, the same for every user."""
    title, chart_specs = PAGES[page]
    wanted = tuple(dict.fromkeys(
        m for c in chart_specs if c.segment is None for m in c.metrics) | dict.fromkeys(
        OVERVIEW_TILES if page == "overview" else ()))
    frame = _frame(site, wanted, view) if wanted else pd.DataFrame(columns=["metric"])
    with site.reading() as ws:
        currency = ws.settings.workspace.currency
        company = ws.settings.workspace.name
        segments = _segment_options(ws.warehouse.sql)
        drawn = tuple(dict.fromkeys(m for c in chart_specs for m in c.metrics))
        unloaded = site.remember(("unloaded", drawn), lambda: unloaded_sources(
            ws.warehouse.ibis, drawn))
    figures = []
    for spec in chart_specs:
        if all(m in unloaded for m in spec.metrics):
            figures.append(_empty_state(page, spec, unloaded))
            continue
        part = _chart_frame(site, spec, view, frame)
        if spec.kind == "movements":
            figure = charts.movements(part, currency)
        elif spec.kind == "bars":
            figure = charts.bars(part, spec.metrics[0], spec.segment or "", currency)
        else:
            figure = charts.lines(part, list(spec.metrics), spec.segment, currency)
        figures.append({"key": spec.key, "title": spec.title, "json": charts.to_json(figure),
                        "csv": f"/download/{page}/{spec.key}.csv?{view.query()}",
                        "downloads": _downloads(page, spec.key, view.query()),
                        "rows": int(len(part)), "drill": _drill_base(page, spec.key, view)})
    for key, title, figure, _table in views.extras(site, page, view):
        figures.append({"key": key, "title": title, "json": charts.to_json(figure),
                        "csv": f"/download/{page}/{key}.csv?{view.query()}",
                        "downloads": _downloads(page, key, view.query()), "rows": 1,
                        "drill": _drill_base(page, key, view)})
    tables = [{"key": key, "title": title, **views.display_table(table, currency),
               "csv": f"/download/{page}/{key}.csv?{view.query()}",
               "downloads": _downloads(page, key, view.query())}
              for key, title, table in views.tables(site, page, view)]
    complete = frame[~frame["partial"].astype(bool)] if "partial" in frame else frame
    tiles = (_tiles(complete, currency, view.period, _min_sample(site))
             if page == "overview" else [])
    if page == "overview":
        tiles.insert(4, views.health_mix_tile(site))
    return {"page": page, "title": title, "company": company, "view": view,
            "figures": figures, "tiles": tiles, "segments": segments, "pages": _nav(),
            "tables": tables}


def _empty_state(page: str, spec: Chart, unloaded: dict[str, list[tuple[str, ...]]]
                 ) -> dict[str, Any]:
    """A chart whose metrics all rest on tables without rows: instead of a chart of zeros,
    what to load to see it, and how (the CLI command, the Data page)."""
    groups = list(dict.fromkeys(g for m in spec.metrics for g in unloaded[m]))
    what = ", ".join(" or ".join(group) for group in groups)
    return {"key": spec.key, "title": spec.title, "empty": {
        "sentence": f"No {what} loaded: load {what} to see {spec.title}.",
        "commands": [f"csmetrics ingest {group[0]} FILE.csv" for group in groups],
        "tables": [t for group in groups for t in group]},
        "downloads": [], "rows": 0}


def _drill_base(page: str, key: str, view: View) -> str:
    """Where clicking a chart's bar, point or cell leads (web/drilldown.py; charts.js adds
    the period, movement or cell clicked), or "" for a chart without a drill-down."""
    if (page, key) == ("revenue", "movements"):
        return "/drill/movement?" + urlencode({"period": view.period, "where": view.where})
    if (page, key) == ("retention", "churn"):
        return "/drill/churn?" + urlencode({"period": view.period, "where": view.where})
    if page == "retention" and key in ("cohorts_logo", "cohorts_revenue"):
        return "/drill/cohort?" + urlencode({"kind": key.removeprefix("cohorts_"),
                                             "from": view.start, "to": view.end})
    return ""


def _nav() -> list[tuple[str, str]]:
    return [(k, v[0]) for k, v in PAGES.items()]


def _chart_frame(site: Site, spec: Chart, view: View, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a chart draws: the page's rows, or its own query when it is by a segment."""
    if spec.segment is None:
        return frame[frame.metric.isin(spec.metrics)]
    definition = get_metric(spec.metrics[0])
    by = None if definition.dimension == spec.segment else spec.segment
    with site.reading() as ws:
        return ws.query(list(spec.metrics), period=view.period, start=view.start,
                        end=view.end, by=by, where=view.filters)


#: Units whose value is an estimate from a sample (a share, a mean score, a ratio of two
#: estimates): below ``[dashboard] min_sample`` observations a tile does not judge them.
#: Sums and counts (MRR, customers) are exact whatever n is.
SAMPLED_UNITS = frozenset({Unit.RATE, Unit.SCORE, Unit.RATIO, Unit.HOURS, Unit.DAYS,
                           Unit.MONTHS, Unit.YEARS})


def _min_sample(site: Site) -> int:
    """``[dashboard] min_sample``: the fewest observations a tile judges."""
    with site.reading() as ws:
        return ws.settings.dashboard.min_sample


def _tiles(frame: pd.DataFrame, currency: str, period: str = "month",
           min_sample: int = 30) -> list[dict[str, Any]]:
    """The overview's KPI tiles: the last period's value formatted by unit, its change on
    the period before, coloured good or bad only when the change has a direction and, for
    sampled units, n is at least ``min_sample`` ("too few to judge" otherwise), the target
    gap, and the benchmark in the page's ``period``."""
    tiles = []
    for name in OVERVIEW_TILES:
        rows = frame[frame.metric == name].sort_values("period_start")
        if rows.empty:
            continue
        definition = get_metric(name)
        unit = definition.unit
        values = [None if pd.isna(v) else float(v) for v in rows.value]
        now = values[-1]
        before = values[-2] if len(values) > 1 else None
        last = rows.iloc[-1]
        target = None if pd.isna(last.target) else float(last.target)
        change = None if now is None or before is None else now - before
        n = 0 if pd.isna(last.n) else int(last.n)
        few = unit in SAMPLED_UNITS and n < min_sample and now is not None  # else: its reason
        shown = format_change(change, unit, currency)
        judged = not (few or change is None or definition.direction is Direction.NEUTRAL
                      or not any(d in "123456789" for d in shown))  # "+0.0 pts": no change
        tiles.append({
            "name": name, "title": definition.title,
            "value": format_value(now, unit, currency),
            "change": shown,
            "good": ((change > 0) == (definition.direction is Direction.UP)) if judged
            else None,
            "few": few, "min_sample": min_sample,
            "target": None if target is None else format_value(target, unit, currency),
            "gap": None if target is None or now is None else format_change(
                now - target, unit, currency),
            "benchmark": benchmark_text(definition, period, currency),
            "n": n, "note": "" if pd.isna(last.null_reason) else last.null_reason,
            "spark": charts.sparkline(values),
        })
    return tiles


def _segment_options(con: Any) -> list[str]:
    """The segment filter's choices: every value of the customers' columns; a customer with
    no plan takes its subscriptions' (``subscription_plans``), so their plans are offered."""
    options = []
    for column in ("plan", "region", "size_tier", "owner"):
        sql = f"SELECT {column} FROM customers WHERE {column} IS NOT NULL"
        if column == "plan":
            sql += (" UNION SELECT s.plan FROM subscriptions s JOIN customers c USING "
                    "(customer_id) WHERE c.plan IS NULL AND s.plan IS NOT NULL")
        values = con.execute(f"SELECT DISTINCT * FROM ({sql}) ORDER BY 1").fetchall()
        options += [f"{column}={v[0]}" for v in values]
    return options
