"""Charts of the dashboard, as plotly figures (drawn by the plotly.js the app serves)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from csmetrics.metrics import get_metric
from csmetrics.metrics.definition import Unit

PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#f59e0b", "#7c3aed", "#0891b2", "#db2777"]
MOVEMENT_COLOURS = {"mrr_new": "#16a34a", "mrr_expansion": "#22c55e",
                    "mrr_reactivation": "#0891b2", "mrr_contraction": "#f59e0b",
                    "mrr_churned": "#dc2626"}


#: What follows a number of each unit on an axis and in a hover label (money: the currency).
_SUFFIX = {Unit.RATIO: "×", Unit.HOURS: " h", Unit.DAYS: " days", Unit.MONTHS: " months",
           Unit.YEARS: " years"}
#: d3 formats of the x axis per period: ticks and the hover header.
_PERIOD_FORMATS = {"week": ("Week of %-d %b", "Week of %-d %b %Y"),
                   "month": ("%b %Y", "%b %Y"), "quarter": ("%Y Q%q", "%Y Q%q"),
                   "year": ("%Y", "%Y"), "day": ("%-d %b", "%-d %b %Y")}
#: At most this many period labels on an x axis (week labels are longer: fewer).
_MAX_PERIOD_TICKS = {"week": 4, "day": 5}


def _finite(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks``
    ticks over ``span``."""
    if not span > 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * 0.999)


def _places(step: float) -> int:
    """How many decimals show every multiple of ``step`` exactly (0.25 -> 2, 5 -> 0)."""
    for places in range(0, 10):
        if abs(round(step, places) - step) <= 1e-9 * max(1.0, abs(step)):
            return places
    return 10


def _axis_format(unit: Unit, values: Iterable[Any] = (), currency: str = "USD"
                 ) -> dict[str, Any]:
    """A value axis for ``unit`` over ``values``: a round tick step from their range and a
    tick format with just enough decimals, so no two ticks read the same ("0% 1% 1% 2%"),
    percentages for rates, the currency on money, "×" on ratios."""
    found = _finite(values)
    axis: dict[str, Any] = {"automargin": True}
    if found:
        low, high = min(found), max(found)
        step = nice_step(high - low or abs(high) or 1.0)
        axis |= {"tick0": 0, "dtick": step}
    else:
        step = 0.01 if unit is Unit.RATE else 1.0
    if unit is Unit.RATE:
        axis["tickformat"] = f".{_places(step * 100)}%"
    else:
        axis["tickformat"] = f",.{_places(step)}f"
    if unit is Unit.MONEY:
        axis["ticksuffix"] = f" {currency}"
    elif unit in _SUFFIX:
        axis["ticksuffix"] = _SUFFIX[unit]
    return axis


def hover_format(unit: Unit, currency: str = "USD", field: str = "y") -> str:
    """A hover label's number in its unit: ``%{y:.1%}``, ``%{y:,.2f} USD``, ``%{y:,.1f}×``."""
    if unit is Unit.RATE:
        return f"%{{{field}:.1%}}"
    if unit is Unit.MONEY:
        return f"%{{{field}:,.2f}} {currency}"
    if unit is Unit.COUNT:
        return f"%{{{field}:,.2~f}}"
    return f"%{{{field}:,.1f}}" + _SUFFIX.get(unit, "")


def period_of(starts: Iterable[Any]) -> str:
    """The period (day, week, month, quarter, year) of a series of period starts, from the
    smallest gap between them; a lone first of a month reads as a month, another day as a
    week."""
    days = sorted({pd.Timestamp(s).normalize() for s in starts if not pd.isna(s)})
    if len(days) < 2:
        return "month" if not days or days[0].day == 1 else "week"
    gap = min((b - a).days for a, b in zip(days, days[1:], strict=False))
    return ("day" if gap < 7 else "week" if gap < 28 else "month" if gap < 80
            else "quarter" if gap < 300 else "year")


def _period_axis(starts: Iterable[Any]) -> dict[str, Any]:
    """An x axis of period starts labelled as periods ("Jan 2026", "2026 Q1",
    "Week of 6 Jan"): a tick on the first period and on every k-th after it, few enough
    that the labels fit."""
    days = sorted({pd.Timestamp(s).normalize() for s in starts if not pd.isna(s)})
    period = period_of(days)
    ticks, hover = _PERIOD_FORMATS[period]
    axis: dict[str, Any] = {"tickformat": ticks, "hoverformat": hover, "automargin": True}
    if not days:
        return axis
    every = max(1, math.ceil(len(days) / _MAX_PERIOD_TICKS.get(period, 6)))
    months = {"month": 1, "quarter": 3, "year": 12}.get(period)
    dtick = (f"M{months * every}" if months
             else (7 if period == "week" else 1) * every * 86_400_000)
    return axis | {"tick0": days[0].strftime("%Y-%m-%d"), "dtick": dtick}


def _layout(title: str = "", **extra: Any) -> dict[str, Any]:
    layout = {"title": {"text": title, "font": {"size": 14}} if title else None,
              "margin": {"l": 50, "r": 10, "t": 30 if title else 10, "b": 40},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
              "legend": {"orientation": "h", "y": -0.2}, "hovermode": "x unified"}
    return layout | extra


def to_json(figure: go.Figure) -> str:
    """The figure as JSON for ``Plotly.newPlot``."""
    return pio.to_json(figure, validate=False)


def lines(frame: pd.DataFrame, metrics: list[str], segment: str | None = None,
          currency: str = "USD") -> go.Figure:
    """One line per metric (or per segment value), with 95 % bands where the rows have them;
    axes and hover labels in the metric's unit, the x axis labelled by period."""
    figure = go.Figure()
    unit = get_metric(metrics[0]).unit
    colour = 0
    for metric in metrics:
        rows = frame[frame.metric == metric]
        groups = rows.groupby(segment) if segment and segment in rows else [(None, rows)]
        for key, part in groups:
            part = part.sort_values("period_start")
            name = get_metric(metric).title if key is None else f"{key}"
            hue = PALETTE[colour % len(PALETTE)]
            colour += 1
            if part["ci_low"].notna().any():
                figure.add_trace(go.Scatter(
                    x=list(part.period_start) + list(part.period_start)[::-1],
                    y=list(part.ci_high) + list(part.ci_low)[::-1], fill="toself",
                    fillcolor=hue, opacity=0.15, line={"width": 0}, hoverinfo="skip",
                    showlegend=False, name=f"{name} 95 % CI"))
            partial = (part["partial"].fillna(False).astype(bool) if "partial" in part
                       else pd.Series(False, index=part.index))
            whole = part[~partial]
            figure.add_trace(go.Scatter(x=whole.period_start, y=whole.value,
                                        mode="lines+markers", name=name, line={"color": hue},
                                        legendgroup=name, customdata=whole.n,
                                        hovertemplate=hover_format(unit, currency)
                                        + " (n=%{customdata:,})"))
            if part.value[partial].notna().any():
                _partial_trace(figure, whole, part[partial], name, hue,
                               hover_format(unit, currency))
    shown = frame[frame.metric.isin(metrics)]
    figure.update_layout(**_layout(), yaxis=_axis_format(unit, [
        *shown.value, *shown.get("ci_low", []), *shown.get("ci_high", [])], currency),
        xaxis=_period_axis(shown.period_start))
    return figure


def _partial_trace(figure: go.Figure, whole: pd.DataFrame, partial: pd.DataFrame, name: str,
                   hue: str, value: str = "%{y}") -> None:
    """The periods the data ends inside of: a dotted line from the last whole period and
    hollow markers, named "partial" in the legend and the hover, so an unfinished period
    never reads as a dip."""
    anchor = whole[whole.value.notna()].tail(1)
    joined = pd.concat([anchor, partial])
    if len(joined) > 1:
        figure.add_trace(go.Scatter(x=joined.period_start, y=joined.value, mode="lines",
                                    line={"color": hue, "dash": "dot"}, hoverinfo="skip",
                                    legendgroup=name, showlegend=False))
    figure.add_trace(go.Scatter(
        x=partial.period_start, y=partial.value, mode="markers", name=f"{name} (partial)",
        legendgroup=name, marker={"color": "white", "size": 9, "symbol": "circle",
                                  "line": {"color": hue, "width": 2}},
        customdata=partial.n, hovertemplate=value + " (n=%{customdata:,}) · partial period"))


def movements(frame: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """MRR movements as stacked bars: gains up, losses down, net new as a line; money axis
    and hover labels with the currency."""
    figure = go.Figure()
    hover = hover_format(Unit.MONEY, currency)
    for metric, colour in MOVEMENT_COLOURS.items():
        rows = frame[frame.metric == metric].sort_values("period_start")
        sign = -1 if metric in ("mrr_contraction", "mrr_churned") else 1
        # a period the data ends inside of: pale, so its smaller bars never read as a dip
        partial = rows["partial"].fillna(False).astype(bool) if "partial" in rows else []
        figure.add_trace(go.Bar(x=rows.period_start, y=sign * rows.value,
                                name=get_metric(metric).title, marker_color=colour,
                                marker_opacity=[0.35 if p else 1.0 for p in partial] or None,
                                meta=metric.removeprefix("mrr_"),  # drill-down's kind
                                hovertemplate=hover))
    net = frame[frame.metric == "net_new_mrr"].sort_values("period_start")
    figure.add_trace(go.Scatter(x=net.period_start, y=net.value, name="Net new MRR",
                                mode="lines+markers", line={"color": "#111827"},
                                hovertemplate=hover))
    moved = frame[frame.metric.isin(list(MOVEMENT_COLOURS))]
    losses = moved.metric.isin(["mrr_contraction", "mrr_churned"])
    heights = [*moved[~losses].groupby("period_start").value.sum(),
               *(-moved[losses].groupby("period_start").value.sum()), *net.value, 0]
    # "closest": a click reports the bar clicked (the drill-down), not every bar of its x
    figure.update_layout(**_layout(hovermode="closest"), barmode="relative",
                         yaxis=_axis_format(Unit.MONEY, heights, currency),
                         xaxis=_period_axis(frame.period_start))
    return figure


def sparkline(values: list[float | None]) -> str:
    """A tiny trend line for a KPI tile, as plotly JSON."""
    figure = go.Figure(go.Scatter(y=values, mode="lines", line={"color": "#2563eb", "width": 2},
                                  hoverinfo="skip"))
    figure.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=40,
                         xaxis={"visible": False}, yaxis={"visible": False},
                         paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                         showlegend=False)
    return json.dumps(json.loads(to_json(figure)))


def bars(frame: pd.DataFrame, metric: str, segment: str, currency: str = "USD"
         ) -> go.Figure:
    """The last period's value per segment value, largest first, with 95 % bars if any."""
    rows = frame[(frame.metric == metric) & frame.value.notna()]
    if not rows.empty:
        rows = rows[rows.period_start == rows.period_start.max()].sort_values("value")
    unit = get_metric(metric).unit
    error = None
    if not rows.empty and rows["ci_low"].notna().any():
        error = {"type": "data", "symmetric": False,
                 "array": (rows.ci_high - rows.value).tolist(),
                 "arrayminus": (rows.value - rows.ci_low).tolist()}
    figure = go.Figure(go.Bar(x=rows.value if not rows.empty else [],
                              y=rows[segment].astype(str) if not rows.empty else [],
                              orientation="h", marker_color=PALETTE[0], error_x=error,
                              customdata=rows.n if not rows.empty else [],
                              hovertemplate="%{y}: " + hover_format(unit, currency, "x")
                              + " (n=%{customdata:,})<extra></extra>"))
    shown = [] if rows.empty else [*rows.value, *rows.ci_low, *rows.ci_high, 0]
    figure.update_layout(**_layout(hovermode="closest", height=max(260, 22 * len(rows) + 60)),
                         xaxis=_axis_format(unit, shown, currency) | _from_zero(unit, shown))
    return figure


def _from_zero(unit: Unit, values: Iterable[Any]) -> dict[str, Any]:
    """For bars that are all zero or more, an axis from 0 to just past the largest (a
    period without churn is bars of 0 % on an axis from 0 %, not one from -100 %)."""
    found = _finite(values)
    if not found or min(found) < 0:
        return {}
    top = max(found)
    if top > 0:
        return {"range": [0, top * 1.08]}
    step = 0.01 if unit is Unit.RATE else 1.0
    return {"range": [0, 5 * step], "tick0": 0, "dtick": step}


#: The cohort heatmap shows months 0..COHORT_MONTHS since start (the download has them all),
#: so its cells stay wide enough to read on a phone.
COHORT_MONTHS = 12


def cohort_label(cohort: Any, customers: Any) -> str:
    """A cohort's row label: its start month and its size, ``Sep 2025 · n=12``."""
    size = "" if pd.isna(customers) else f" · n={int(customers):,}"
    return f"{pd.Timestamp(cohort):%b %Y}{size}"


def heatmap(table: pd.DataFrame, title: str, months_shown: int = COHORT_MONTHS) -> go.Figure:
    """A cohort table (start month x months since start) as a heatmap of percentages: one
    row per cohort labelled with its size (n), months 0..``months_shown``, no colour bar (the
    cells carry their values), sized to its rows so it fits its card on a desktop and a
    phone. The rows' y values stay the cohorts' start days (the drill-down reads them)."""
    months = [c for c in table.columns if c not in ("cohort", "customers")]
    months = [m for m in months if not str(m).isdigit() or int(m) <= months_shown]
    z = table[months].astype(float).to_numpy()
    cohorts = [str(c)[:10] for c in table["cohort"]]
    labels = [cohort_label(c, n) for c, n in zip(
        table["cohort"], table["customers"] if "customers" in table else [None] * len(z),
        strict=True)]
    figure = go.Figure(go.Heatmap(
        z=z, x=[str(m) for m in months], y=cohorts, xgap=1, ygap=1, showscale=False,
        colorscale="Blues", zmin=0, zmax=max(1.0, float(pd.DataFrame(z).max().max() or 1)),
        text=[[("" if pd.isna(v) else f"{v * 100:.0f}") for v in row] for row in z],
        customdata=[[label] * len(months) for label in labels], texttemplate="%{text}",
        textfont={"size": 10},
        hovertemplate="%{customdata}, month %{x}: %{z:.1%}<extra></extra>"))
    figure.update_layout(**_layout(title, hovermode="closest", height=max(200, 20 * len(z) + 70)),
                         xaxis={"title": {"text": "months since start (% retained)"},
                                "type": "category", "tickfont": {"size": 10}},
                         yaxis={"autorange": "reversed", "type": "category",
                                "tickvals": cohorts, "ticktext": labels,
                                "tickfont": {"size": 10}, "automargin": True})
    figure.update_layout(margin={"l": 10, "r": 5, "t": 30 if title else 5, "b": 40})
    return figure


def survival(curves: pd.DataFrame, band: str = "95 % CI") -> go.Figure:
    """Kaplan-Meier curves with their confidence bands (shaded, one legend entry named
    ``band`` that shows or hides them all), one per segment."""
    figure = go.Figure()
    for i, (segment, part) in enumerate(curves.groupby("segment")):
        hue = PALETTE[i % len(PALETTE)]
        figure.add_trace(go.Scatter(
            x=list(part.months) + list(part.months)[::-1],
            y=list(part.ci_upper) + list(part.ci_lower)[::-1], fill="toself", fillcolor=hue,
            mode="lines", opacity=0.15, line={"width": 0}, hoverinfo="skip", name=band,
            legendgroup="band", showlegend=i == 0))
        figure.add_trace(go.Scatter(x=part.months, y=part.survival, name=str(segment),
                                    line={"shape": "hv", "color": hue}))
    # the legend (segments and the band's name) below the axis title, not over it
    figure.update_layout(**_layout(legend={"orientation": "h", "y": -0.28, "yanchor": "top"}),
                         yaxis={"tickformat": ".0%", "range": [0, 1.02]},
                         xaxis={"title": {"text": "months since first payment",
                                          "standoff": 6}})
    return figure


def bar_counts(labels: list[str], counts: list[int], colour: str = PALETTE[0]) -> go.Figure:
    """Counts per label (a distribution of answers)."""
    figure = go.Figure(go.Bar(x=labels, y=counts, marker_color=colour))
    figure.update_layout(**_layout(hovermode="closest"))
    return figure
