"""Data behind the dashboard's custom charts and tables: cohorts, survival, answer
distributions, themes and requests, the customer list and one customer's page. Everything
comes from the workspace's services; nothing is computed here that a service computes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from csmetrics.errors import UserInputError
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
            try:
                curves = ws.survival(by="plan", store=False).curves  # a page only reads
            except UserInputError:
                curves = pd.DataFrame()
            if not curves.empty:
                yield "survival", "Customer survival by plan (Kaplan-Meier)", \
                    charts.survival(curves), curves
        if page == "voice":
            answers = ws.warehouse.sql.execute(
                "SELECT CAST(round(score) AS INTEGER) AS score, count(*) AS answers "
                "FROM survey_responses WHERE survey = 'nps' AND CAST(responded_at AS DATE) "
                "BETWEEN ? AND ? GROUP BY 1 ORDER BY 1", [view.start, view.end]).df()
            yield "nps_distribution", "NPS answers (0-10) in the range", charts.bar_counts(
                [str(s) for s in answers.score], answers.answers.tolist()), answers


def tables(site: Site, page: str, view: View) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(key, title, rows) of a page's tables."""
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
    shares = {band: (counts.get(band, 0) / total if total else 0.0)
              for band in ("red", "yellow", "green")}
    figure = go.Figure([go.Bar(x=[shares[b]], y=[""], orientation="h", name=b,
                               marker_color={"red": "#dc2626", "yellow": "#d97706",
                                             "green": "#16a34a"}[b], hoverinfo="name+x")
                        for b in ("red", "yellow", "green")])
    figure.update_layout(barmode="stack", height=40, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                         xaxis={"visible": False, "range": [0, 1]}, yaxis={"visible": False},
                         showlegend=False, paper_bgcolor="rgba(0,0,0,0)",
                         plot_bgcolor="rgba(0,0,0,0)")
    return {
        "name": "health_mix", "title": "Health mix",
        "value": f"{shares['green']:.0%} green",
        "change": f"{shares['red']:.0%} red · {shares['yellow']:.0%} yellow", "suffix": "",
        "good": None,
        "target": None, "gap": None, "benchmark": "", "n": total,
        "note": "" if as_of is None else f"snapshot of {str(as_of)[:10]}",
        "spark": charts.to_json(figure),
    }


def customer_table(site: Site) -> pd.DataFrame:
    """Every customer with MRR, and for paying ones health score, band, change and risk."""
    def compute() -> pd.DataFrame:
        with site.reading() as ws:
            customers = answers.customer_list(site, ws)
            health = answers.health(site, ws).scores[["customer_id", "score", "band",
                                                      "change"]]
            risks = answers.churn_risks(site, ws)
        frame = customers.merge(health, on="customer_id", how="left")
        frame["risk"] = frame["customer_id"].map(risks)
        frame["band"] = frame["band"].fillna("not paying")
        return frame
    return site.remember("customer table", compute)


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
    mrr = pd.DataFrame(history, columns=["period_start", "mrr"])
    timeline = go.Figure(go.Scatter(x=mrr.period_start, y=mrr.mrr, mode="lines+markers",
                                    name="MRR", line={"color": charts.PALETTE[0]}))
    dau = usage[usage.metric == "dau"]
    timeline.add_trace(go.Bar(x=dau.period_start, y=dau.value, name="daily active users",
                              yaxis="y2", marker_color=charts.PALETTE[5], opacity=0.5))
    timeline.update_layout(yaxis={"title": "MRR"}, yaxis2={"title": "DAU", "overlaying": "y",
                                                           "side": "right"},
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
            "summary": explanation.summary,
            "components": explanation.components[["component", "shown", "points",
                                                  "why"]].to_dict("records")},
        "drivers": _drivers(drivers),
    }


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


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = out[column].round(3)
        elif out[column].map(lambda v: isinstance(v, list | tuple)).any():
            out[column] = out[column].map(lambda v: ", ".join(map(str, v))
                                          if isinstance(v, list | tuple) else v)
    return out
