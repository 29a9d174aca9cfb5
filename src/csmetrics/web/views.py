"""Data behind the dashboard's custom charts and tables: cohorts, survival, answer
distributions, themes and requests, the customer list and one customer's page. Everything
comes from the workspace's services; nothing is computed here that a service computes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from csmetrics.errors import UserInputError
from csmetrics.health.scorecard import BAND_LABELS, INSUFFICIENT
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import column_label, format_cell, format_value
from csmetrics.reports.customer360 import last_touch, subscriptions_now
from csmetrics.server import answers
from csmetrics.web import charts

if TYPE_CHECKING:
    from csmetrics.server.deps import Site
    from csmetrics.web.pages import View


def extras(site: Site, page: str, view: View) -> Iterator[tuple[str, str, go.Figure, pd.DataFrame]]:
    """(key, title, figure, rows) of a page's charts that are not metric lines."""
    with site.reading() as ws:
        if page == "retention":
            for kind in ("logo", "revenue"):
                table = ws.cohorts(kind, start=view.start, end=view.end).reset_index()
                table.columns = [str(c) for c in table.columns]
                yield (f"cohorts_{kind}", f"{kind.capitalize()} retention by start month",
                       charts.heatmap(table, ""), table)
            survival = _survival_by_plan(site, ws)
            if survival is not None and not survival.curves.empty:
                band = band_label(survival)
                yield ("survival", f"Customer survival by plan (Kaplan-Meier), shaded: {band}",
                       charts.survival(survival.curves, band), survival.curves)
        if page == "voice":
            answers = ws.warehouse.sql.execute(
                "SELECT CAST(round(score) AS INTEGER) AS score, count(*) AS answers "
                "FROM survey_responses WHERE survey = 'nps' AND CAST(responded_at AS DATE) "
                "BETWEEN ? AND ? GROUP BY 1 ORDER BY 1", [view.start, view.end]).df()
            yield "nps_distribution", "NPS answers (0-10) in the range", charts.bar_counts(
                [str(s) for s in answers.score], answers.answers.tolist()), answers


def tables(site: Site, page: str, view: View) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(key, title, rows) of a page's tables."""
    if page == "retention":
        yield from _survival_tables(site)
        return
    if page != "voice":
        return
    with site.reading() as ws:
        themes = ws.voice_themes(save=False).summary
        requests = ws.voice_requests(save=False).requests
        comments = ws.warehouse.sql.execute(
            "SELECT CAST(responded_at AS DATE) AS day, customer_id, survey, score, comment "
            "FROM survey_responses WHERE comment IS NOT NULL AND CAST(responded_at AS DATE) "
            "BETWEEN ? AND ? ORDER BY responded_at DESC LIMIT 25",
            [view.start, view.end]).df()
    if not themes.empty:
        keep = [c for c in ("label", "top_terms", "texts", "customers", "negative_share",
                            "detractor_share", "promoter_share", "mrr") if c in themes]
        yield "themes", "Themes", _rounded(themes[keep])
    if not requests.empty:
        keep = [c for c in ("request", "label", "customers", "mrr", "status", "asks",
                            "first_asked", "last_asked") if c in requests]
        yield "requests", "Feature requests", _rounded(requests[keep].head(15))
    yield "comments", "Latest comments", comments


def health_mix_tile(site: Site) -> dict[str, Any]:
    """The overview's health tile: shares of paying accounts per band, from the latest stored
    snapshot (refresh), or scored now when there is none."""
    with site.reading() as ws:
        stored = _stored(ws, "_health_scores", ["as_of", "customer_id", "band"])
        if stored.empty:
            health = answers.health(site, ws)
            scores, as_of = health.scores, health.as_of
        else:
            latest = stored["as_of"].max()
            scores = stored[stored["as_of"] == latest]
            as_of = latest
    counts = scores["band"].value_counts()
    total = int(counts.sum())
    bands = ("red", "yellow", "green", INSUFFICIENT)
    shares = {band: (counts.get(band, 0) / total if total else 0.0) for band in bands}
    colours = {"red": "#dc2626", "yellow": "#d97706", "green": "#16a34a",
               INSUFFICIENT: "#9ca3af"}
    figure = go.Figure([go.Bar(x=[shares[b]], y=[""], orientation="h",
                               name=BAND_LABELS.get(b, b), marker_color=colours[b],
                               hoverinfo="name+x") for b in bands])
    unscored = (f" · {shares[INSUFFICIENT]:.0%} insufficient data"
                if counts.get(INSUFFICIENT, 0) else "")
    figure.update_layout(barmode="stack", height=40, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                         xaxis={"visible": False, "range": [0, 1]}, yaxis={"visible": False},
                         showlegend=False, paper_bgcolor="rgba(0,0,0,0)",
                         plot_bgcolor="rgba(0,0,0,0)")
    return {
        "name": "health_mix", "title": "Health mix",
        "value": f"{shares['green']:.0%} green",
        "change": f"{shares['red']:.0%} red · {shares['yellow']:.0%} yellow{unscored}",
        "suffix": "",
        "good": None,
        "target": None, "gap": None, "benchmark": "", "n": total,
        "note": "" if as_of is None else f"snapshot of {str(as_of)[:10]}",
        "spark": charts.to_json(figure),
    }


def customer_table(site: Site, days: int = 30) -> pd.DataFrame:
    """Every customer with MRR and ARR, MRR change over ``days`` days, and for paying ones
    health score, coverage, band, score change and churn risk
    (``answers.customer_table``)."""
    with site.reading() as ws:
        return answers.customer_table(site, ws, days)


def customer_view(site: Site, customer: str) -> dict[str, Any] | None:
    """Everything the customer page shows, or None for an unknown customer."""
    with site.reading() as ws:
        found = answers.customer_views(site, ws).view(customer)
        if found is None:
            return None
        profile, history, counts = found
        usage = ws.query(["dau", "tickets_per_customer"], customer=customer)
        sql = ws.warehouse.sql
        tickets = sql.execute(
            "SELECT opened_at, category, priority, agent, contacts, resolved_at FROM tickets "
            "WHERE customer_id = ? ORDER BY opened_at DESC LIMIT 10", [customer]).df()
        answered = sql.execute(
            "SELECT responded_at, survey, score, comment FROM survey_responses "
            "WHERE customer_id = ? ORDER BY responded_at DESC LIMIT 10", [customer]).df()
        activities = sql.execute(
            "SELECT occurred_at, kind, employee, sentiment, notes FROM activities "
            "WHERE customer_id = ? ORDER BY occurred_at DESC LIMIT 10", [customer]).df()
        texts = ws.voice_texts(customer).head(15)
        explanation = answers.health_explanation(site, ws, customer)
        drivers = None
        try:
            drivers = ws.churn_explain(customer)
        except UserInputError:
            drivers = None
        day = site.remember("data end", ws.data_end)
        currency = ws.settings.workspace.currency
        subscriptions = subscriptions_now(ws.warehouse.ibis, ws.settings, customer, day,
                                          today=ws.today())
        touch = last_touch(sql, customer)
        scored = _stored(ws, "_health_scores", ["as_of", "customer_id", "score", "band"])
    trend = scored[scored["customer_id"] == customer].sort_values("as_of")
    account = _account(subscriptions, currency, day, profile.get("owner"), touch)
    mrr = pd.DataFrame(history, columns=["period_start", "mrr"])
    timeline = go.Figure(go.Scatter(x=mrr.period_start, y=mrr.mrr, mode="lines+markers",
                                    name="MRR", line={"color": charts.PALETTE[0]}))
    dau = usage[(usage.metric == "dau") & usage.value.notna()]
    if not dau.empty:  # no usage loaded (or none for this customer): MRR alone, no empty axis
        timeline.add_trace(go.Bar(x=dau.period_start, y=dau.value, name="daily active users",
                                  yaxis="y2", marker_color=charts.PALETTE[5], opacity=0.5))
        timeline.update_layout(yaxis2={"title": "DAU", "overlaying": "y", "side": "right",
                                       "rangemode": "tozero"})
    timeline.update_layout(yaxis={"title": "MRR", "rangemode": "tozero"},
                           margin={"l": 60, "r": 60, "t": 10, "b": 40},
                           legend={"orientation": "h", "y": -0.2})
    return {
        "customer_id": customer, "name": profile.get("name") or customer, "profile": {
            k: v for k, v in profile.items() if k != "attributes" and v is not None},
        "counts": counts, "timeline": charts.to_json(timeline),
        "tickets": tickets.to_dict("records"), "answers": answered.to_dict("records"),
        "activities": activities.to_dict("records"), "texts": texts.to_dict("records"),
        "health": None if explanation is None else {
            "score": explanation.score, "band": explanation.band,
            "coverage": explanation.coverage, "summary": explanation.summary,
            "components": explanation.components[["component", "shown", "points",
                                                  "why"]].to_dict("records")},
        "drivers": _drivers(drivers),
        "account": account, "trend": _health_trend(trend, explanation, day),
    }


def _account(subscriptions: pd.DataFrame, currency: str, day: Any, owner: Any,
             touch: dict[str, Any] | None) -> dict[str, Any]:
    """The customer page's account card: MRR and ARR on the data's last day, the
    subscriptions in service with their next renewal, the soonest renewal and its value (of
    every subscription renewing that day), owner and last touch."""
    money = lambda v: format_value(v, Unit.MONEY, currency)  # noqa: E731
    mrr = float(subscriptions["mrr"].sum()) if not subscriptions.empty else 0.0
    due = subscriptions[subscriptions["next_renewal"].notna()]
    renewal = None
    if not due.empty:
        first = min(due["next_renewal"])
        renewal = {"date": first, "value": money(float(
            due.loc[due["next_renewal"] == first, "renewal_value"].sum()))}
    rows = [{"subscription": r.subscription_id, "plan": r.plan, "interval": r.billing_interval,
             "quantity": "" if pd.isna(r.quantity) else int(r.quantity), "mrr": money(r.mrr),
             "start": r.start, "next_renewal": r.next_renewal or "none (ends or canceled)",
             "renewal_value": "" if r.renewal_value is None or pd.isna(r.renewal_value)
             else money(r.renewal_value)} for r in subscriptions.itertuples()]
    return {"as_of": day, "mrr": money(mrr), "arr": money(mrr * 12), "owner": owner or "—",
            "renewal": renewal, "subscriptions": rows, "last_touch": touch}


def _health_trend(history: pd.DataFrame, explanation: Any, day: Any) -> dict[str, Any] | None:
    """The customer's stored health scores over time (``csmetrics health snapshot`` /
    refresh), with today's score appended when it is newer, as a small chart."""
    points = [(pd.Timestamp(r.as_of).date(), float(r.score), r.band)
              for r in history.itertuples() if not pd.isna(r.score)]
    if explanation is not None and explanation.score is not None and (
            not points or points[-1][0] < day):
        points.append((day, float(explanation.score), explanation.band))
    if len(points) < 2:
        return None
    colours = {"red": "#dc2626", "yellow": "#d97706", "green": "#16a34a"}
    figure = go.Figure(go.Scatter(
        x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
        line={"color": "#6b7280", "width": 2}, text=[p[2] for p in points],
        marker={"color": [colours.get(p[2], "#6b7280") for p in points], "size": 7},
        hovertemplate="%{x}: %{y:.0f} (%{text})<extra></extra>"))
    figure.update_layout(height=120, margin={"l": 30, "r": 10, "t": 5, "b": 25},
                         yaxis={"range": [0, 100]}, showlegend=False,
                         paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return {"json": charts.to_json(figure), "points": len(points),
            "first": points[0][0], "last": points[-1][0]}


def _drivers(explained: Any) -> dict[str, Any] | None:
    """The churn model's risk for the customer and the features that push it, in words."""
    if explained is None:
        return None
    probability, pushes = explained
    return {"risk": probability, "sentences": [p.sentence for p in pushes]}


def _stored(ws: Any, table: str, columns: list[str]) -> pd.DataFrame:
    try:
        return ws.warehouse.sql.execute(f"SELECT {', '.join(columns)} FROM {table}").df()
    except Exception as exc:  # noqa: BLE001 - a table that was never written
        if "does not exist" in str(exc):
            return pd.DataFrame(columns=columns)
        raise


def display_table(frame: pd.DataFrame, currency: str) -> dict[str, Any]:
    """A table as the dashboard shows it: headers for people ("Customer", "MRR"), cells
    formatted by unit (money with ``currency``, shares as %, days as dates), and which
    columns hold numbers (right-aligned). Downloads keep the machine names and values."""
    labels = {c: column_label(str(c)) for c in frame.columns}
    numeric = [labels[c] for c in frame.columns if frame[c].dtype.kind in "iuf"]
    rows = [{labels[c]: format_cell(str(c), v, currency) for c, v in record.items()}
            for record in frame.to_dict("records")]
    return {"columns": list(labels.values()), "rows": rows, "numeric": numeric}


def _survival_by_plan(site: Site, ws: Any) -> Any:
    """Kaplan-Meier by plan as of the data's end (not stored: a page only reads), kept until
    the warehouse changes; None when no customer has paid service yet."""
    def compute() -> Any:
        try:
            return ws.survival(by="plan", store=False)
        except UserInputError:
            return None
    return site.remember(("survival", "plan"), compute)


def band_label(result: Any) -> str:
    """What a survival band is: "95 % CI, log transform (as R)" or "..., log-log transform
    (as lifelines)"."""
    transform = result.ci_transform.value
    like = "as R" if transform == "log" else "as lifelines"
    return f"{(1 - result.alpha) * 100:g} % CI, {transform} transform ({like})"


def p_text(p: float) -> str:
    """A p-value for people: three significant digits, "< 0.0001" below that."""
    return "< 0.0001" if p < 0.0001 else f"{p:.3g}"


def _survival_tables(site: Site) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """Under the survival chart: the log-rank test between the plans with its reading, and
    each plan's median lifetime with its confidence interval ("not reached" while more than
    half of the plan's customers are still paying)."""
    with site.reading() as ws:
        result = _survival_by_plan(site, ws)
    if result is None:
        return
    test = result.logrank
    if test is None:
        reading = "one plan only: nothing to compare"
        row = {"statistic": None, "degrees_of_freedom": None, "p_value": None}
    else:
        shown = p_text(test.p_value)
        reading = (f"the plans' survival differs (p = {shown})" if test.p_value < result.alpha
                   else f"no evidence of a difference (p = {shown})")
        row = {"statistic": round(test.statistic, 2),
               "degrees_of_freedom": test.degrees_of_freedom, "p_value": shown}
    yield ("survival_logrank", "Log-rank test between the plans (chi-square)",
           pd.DataFrame([{"test": "log-rank, plans", **row, "reading": reading}]))
    medians = result.summary[["segment", "customers", "churned", "median_months",
                              "median_ci_lower", "median_ci_upper"]].rename(
        columns={"segment": "plan"})
    for column in ("median_months", "median_ci_lower", "median_ci_upper"):
        medians[column] = [("not reached" if v is None or pd.isna(v) else round(float(v), 2))
                           for v in medians[column]]
    yield ("survival_medians",
           f"Median lifetime per plan, months ({band_label(result).split(',')[0]})", medians)


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = out[column].round(3)
        elif out[column].map(lambda v: isinstance(v, list | tuple)).any():
            out[column] = out[column].map(lambda v: ", ".join(map(str, v))
                                          if isinstance(v, list | tuple) else v)
    return out
