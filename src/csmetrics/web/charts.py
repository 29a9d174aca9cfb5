"""Charts of the dashboard, as plotly figures (drawn by the plotly.js the app serves)."""

from __future__ import annotations

import json
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


def _axis_format(unit: Unit) -> dict[str, Any]:
    if unit is Unit.RATE:
        return {"tickformat": ".0%"}
    if unit is Unit.MONEY:
        return {"tickformat": ",.0f"}
    return {}


def _layout(title: str = "", **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}} if title else None,
            "margin": {"l": 50, "r": 10, "t": 30 if title else 10, "b": 40},
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "legend": {"orientation": "h", "y": -0.2}, "hovermode": "x unified", **extra}


def to_json(figure: go.Figure) -> str:
    """The figure as JSON for ``Plotly.newPlot``."""
    return pio.to_json(figure, validate=False)


def lines(frame: pd.DataFrame, metrics: list[str], segment: str | None = None) -> go.Figure:
    """One line per metric (or per segment value), with 95 % bands where the rows have them."""
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
            figure.add_trace(go.Scatter(x=part.period_start, y=part.value, mode="lines+markers",
                                        name=name, line={"color": hue},
                                        customdata=part.n, hovertemplate="%{y} (n=%{customdata})"))
    figure.update_layout(**_layout(), yaxis=_axis_format(unit))
    return figure


def movements(frame: pd.DataFrame) -> go.Figure:
    """MRR movements as stacked bars: gains up, losses down, net new as a line."""
    figure = go.Figure()
    for metric, colour in MOVEMENT_COLOURS.items():
        rows = frame[frame.metric == metric].sort_values("period_start")
        sign = -1 if metric in ("mrr_contraction", "mrr_churned") else 1
        figure.add_trace(go.Bar(x=rows.period_start, y=sign * rows.value,
                                name=get_metric(metric).title, marker_color=colour))
    net = frame[frame.metric == "net_new_mrr"].sort_values("period_start")
    figure.add_trace(go.Scatter(x=net.period_start, y=net.value, name="Net new MRR",
                                mode="lines+markers", line={"color": "#111827"}))
    figure.update_layout(**_layout(), barmode="relative", yaxis={"tickformat": ",.0f"})
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
