"""The executive report's charts as PNG bytes: MRR trend, MRR movements, NPS trend.

matplotlib draws on its Agg canvas directly (no pyplot, no global backend switch), so
charts can be made in any thread, including the server's scheduler.
"""

from __future__ import annotations

import io
from datetime import date

from matplotlib.figure import Figure

from csmetrics.reports.executive import ExecutiveReport

GREEN, RED, BLUE, GREY = "#2e7d32", "#c62828", "#1565c0", "#757575"


def report_charts(report: ExecutiveReport) -> dict[str, bytes]:
    """``mrr_trend``, ``movements`` and ``nps_trend`` PNGs for ``report``."""
    return {
        "mrr_trend": _line(report.kpi("mrr").trend, f"MRR ({report.currency})", BLUE,
                           report.period.start),
        "movements": _movements(report),
        "nps_trend": _line(report.kpi("nps").trend, "NPS", GREEN, report.period.start,
                           zero_line=True),
    }


def _figure() -> Figure:
    figure = Figure(figsize=(7.0, 2.6), dpi=110)
    figure.subplots_adjust(left=0.12, right=0.98, top=0.86, bottom=0.2)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _line(points: tuple[tuple[date, float | None], ...], title: str, colour: str,
          current: date, zero_line: bool = False) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=10, loc="left")
    xs = [p[0] for p in points]
    ys = [float("nan") if p[1] is None else p[1] for p in points]
    axes.plot(xs, ys, marker="o", markersize=3, color=colour, linewidth=1.6)
    for x, y in zip(xs, ys, strict=True):
        if x == current and y == y:
            axes.plot([x], [y], marker="o", markersize=7, color=colour)
    if zero_line:
        axes.axhline(0, color=GREY, linewidth=0.6)
    axes.grid(axis="y", alpha=0.3)
    axes.tick_params(labelsize=7)
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    if not any(y == y for y in ys):
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", color=GREY)
    figure.autofmt_xdate(rotation=30)
    return _png(figure)


def _movements(report: ExecutiveReport) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title(f"MRR movements, {report.period.label} ({report.currency})", fontsize=10,
                   loc="left")
    labels = [m.title.replace(" MRR", "") for m in report.movements] + ["Net new"]
    values = [m.sign * m.amount for m in report.movements] + [report.net_new_mrr]
    colours = [GREEN if v >= 0 else RED for v in values[:-1]] + [BLUE]
    bars = axes.bar(labels, values, color=colours)
    axes.bar_label(bars, labels=[f"{v:+,.0f}" for v in values], fontsize=7, padding=2)
    axes.axhline(0, color=GREY, linewidth=0.6)
    axes.grid(axis="y", alpha=0.3)
    axes.tick_params(labelsize=8)
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    axes.margins(y=0.2)
    return _png(figure)
