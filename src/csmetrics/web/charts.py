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
    layout = {"title": {"text": title, "font": {"size": 14}} if title else None,
              "margin": {"l": 50, "r": 10, "t": 30 if title else 10, "b": 40},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
              "legend": {"orientation": "h", "y": -0.2}, "hovermode": "x unified"}
    return layout | extra


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


def bars(frame: pd.DataFrame, metric: str, segment: str) -> go.Figure:
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
                              hovertemplate="%{y}: %{x} (n=%{customdata})<extra></extra>"))
    figure.update_layout(**_layout(hovermode="closest", height=max(260, 22 * len(rows) + 60)),
                         xaxis=_axis_format(unit))
    return figure


def heatmap(table: pd.DataFrame, title: str) -> go.Figure:
    """A cohort table (start month x months since start) as a heatmap of percentages."""
    months = [c for c in table.columns if c not in ("cohort", "customers")]
    z = table[months].astype(float).to_numpy()
    figure = go.Figure(go.Heatmap(
        z=z, x=[str(m) for m in months], y=[str(c) for c in table["cohort"]],
        colorscale="Blues", zmin=0, zmax=max(1.0, float(pd.DataFrame(z).max().max() or 1)),
        text=[[("" if pd.isna(v) else f"{v:.0%}") for v in row] for row in z],
        texttemplate="%{text}", hovertemplate="cohort %{y}, month %{x}: %{text}<extra></extra>"))
    figure.update_layout(**_layout(title, hovermode="closest", height=max(300, 24 * len(z) + 80)),
                         xaxis={"title": "months since start"}, yaxis={"autorange": "reversed"})
    return figure


def survival(curves: pd.DataFrame) -> go.Figure:
    """Kaplan-Meier curves with their bands, one per segment."""
    figure = go.Figure()
    for i, (segment, part) in enumerate(curves.groupby("segment")):
        hue = PALETTE[i % len(PALETTE)]
        figure.add_trace(go.Scatter(
            x=list(part.months) + list(part.months)[::-1],
            y=list(part.ci_upper) + list(part.ci_lower)[::-1], fill="toself", fillcolor=hue,
            opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False))
        figure.add_trace(go.Scatter(x=part.months, y=part.survival, name=str(segment),
                                    line={"shape": "hv", "color": hue}))
    figure.update_layout(**_layout(), yaxis={"tickformat": ".0%", "range": [0, 1.02]},
                         xaxis={"title": "months since first payment"})
    return figure


def bar_counts(labels: list[str], counts: list[int], colour: str = PALETTE[0]) -> go.Figure:
    """Counts per label (a distribution of answers)."""
    figure = go.Figure(go.Bar(x=labels, y=counts, marker_color=colour))
    figure.update_layout(**_layout(hovermode="closest"))
    return figure
