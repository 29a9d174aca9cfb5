"""The executive report as a self-contained HTML page, a PDF, and a plain-text summary.

HTML: a Jinja2 template (``templates/executive.html``) with its charts inline as PNG data
URIs, so it needs no network and can be mailed as it is. PDF: fpdf2 (pure Python) with the
same charts and the DejaVu Sans font that matplotlib ships, so any text prints.
"""

from __future__ import annotations

import base64
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace
from jinja2 import Environment, FileSystemLoader, select_autoescape

from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.reports.charts import report_charts
from csmetrics.reports.executive import FALL_POINTS, ExecutiveReport

TEMPLATES = Path(__file__).parent / "templates"
FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
BLUE = (21, 101, 192)
GREEN, RED = (46, 125, 50), (198, 40, 40)


def render_html(report: ExecutiveReport, charts: dict[str, bytes] | None = None) -> str:
    """The report as one HTML document with no external references."""
    charts = charts if charts is not None else report_charts(report)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    template = env.get_template("executive.html")
    return template.render(
        r=report, fall=f"{FALL_POINTS:.0f}",
        charts={name: base64.b64encode(png).decode() for name, png in charts.items()},
        fmt=lambda value, unit: format_value(value, unit, report.currency))


def render_text(report: ExecutiveReport) -> str:
    """A plain-text summary: the e-mail body for readers without HTML."""
    lines = [f"{report.company} — {report.title}, {report.period.label}",
             f"Segment: {report.segment_label}; data until {report.data_end}.", ""]
    for k in report.kpis:
        lines.append(f"{k.title}: {k.display} ({k.change_display} vs previous)")
    lines += ["", f"Net new MRR: {report.net_new_mrr:+,.2f} {report.currency}"]
    for m in report.movements:
        lines.append(f"  {m.title}: {m.sign * m.amount:+,.2f} ({m.customers} customers)")
    lines += ["", f"Accounts at risk: {report.at_risk_total} of {report.accounts_scored}"]
    for a in report.at_risk[:5]:
        lines.append(f"  {a.name} ({a.owner}): MRR {a.mrr:,.2f}, health {a.score:.0f} — "
                     f"{a.reason}")
    lines += [*([""] if report.notes else []), *report.notes,
              "", "The full report is attached as a PDF."]
    return "\n".join(lines)


class _Pdf(FPDF):
    def __init__(self, report: ExecutiveReport) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(True, margin=15)
        self.set_title(f"{report.company} — {report.title}, {report.period.label}")
        self.set_creator("csmetrics")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(120)
        self.cell(0, 5, f"{self.report.company} · {self.report.title} · "
                  f"{self.report.period.label} · page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def heading(self, text: str) -> None:
        if self.get_y() > 250:
            self.add_page()
        self.ln(3)
        self.set_font("DejaVu", "B", 12)
        self.set_text_color(*BLUE)
        self.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*BLUE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_text_color(0)
        self.ln(2)

    def paragraph(self, text: str, size: float = 9) -> None:
        self.set_font("DejaVu", "", size)
        self.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def grid(self, rows: list[list[str]], widths: tuple[float, ...],
             align: tuple[str, ...]) -> None:
        self.set_font("DejaVu", "", 8)
        heading = FontFace(emphasis="BOLD", fill_color=(240, 240, 240))
        with self.table(col_widths=widths, text_align=align, headings_style=heading,
                        line_height=4.6, borders_layout="HORIZONTAL_LINES",
                        width=self.epw) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(value)
        self.ln(2)

    def chart(self, png: bytes, height: float = 62) -> None:
        import io

        if self.get_y() + height > self.h - 18:
            self.add_page()
        self.image(io.BytesIO(png), x=self.l_margin, w=self.epw, h=height)
        self.ln(1)


def render_pdf(report: ExecutiveReport, charts: dict[str, bytes] | None = None) -> bytes:
    """The report as a PDF document (A4): KPIs and charts, movements, at-risk accounts, voice
    of the customer."""
    charts = charts if charts is not None else report_charts(report)
    r = report
    pdf = _Pdf(r)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 8, f"{r.company} — {r.title}", new_x="LMARGIN", new_y="NEXT")
    pdf.paragraph(f"{r.period.label} ({r.period.start} to {r.period.end}) · {r.segment_label}"
                  f" · data until {r.data_end} · generated "
                  f"{r.generated_at.strftime('%Y-%m-%d %H:%M UTC')}", size=8.5)
    for note in r.notes:
        pdf.paragraph(f"Note: {note}", size=8.5)

    pdf.heading("Headline KPIs")
    fmt = lambda v, unit: format_value(v, unit, r.currency)  # noqa: E731
    rows = [["KPI", r.period.label, "Previous", "Change", "Target", "n"]]
    rows += [[k.title, k.display, fmt(k.previous, k.unit), k.change_display,
              "" if k.target is None else fmt(k.target, k.unit), f"{k.n:,}"] for k in r.kpis]
    pdf.grid(rows, (50, 34, 34, 28, 26, 14), ("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT",
                                              "RIGHT"))
    pdf.chart(charts["mrr_trend"])

    pdf.heading("MRR movements")
    rows = [["Movement", f"MRR ({r.currency})", "Customers"]]
    rows += [[m.title, f"{m.sign * m.amount:+,.2f}", str(m.customers)] for m in r.movements]
    rows.append(["Net new MRR", f"{r.net_new_mrr:+,.2f}", ""])
    pdf.grid(rows, (80, 60, 40), ("LEFT", "RIGHT", "RIGHT"))
    pdf.chart(charts["movements"])

    pdf.heading("Accounts at risk")
    shown = "" if r.at_risk_total <= len(r.at_risk) else (
        f"; the {len(r.at_risk)} with the most MRR are listed")
    pdf.paragraph(f"{r.at_risk_total} of {r.accounts_scored} paying accounts are in the red "
                  f"health band or lost at least {FALL_POINTS:.0f} health points over the "
                  f"period{shown}.")
    if r.churn_note:
        pdf.paragraph(r.churn_note, size=8)
    if r.at_risk:
        head = ["Account", "Owner", "MRR", "Health", "Change"]
        head += [] if r.churn_note else ["Churn risk"]
        rows = [head + ["Why"]]
        for a in r.at_risk:
            risk = [] if r.churn_note else [
                "—" if a.churn_probability is None else f"{a.churn_probability:.0%}"]
            rows.append([f"{a.name} ({a.customer_id})", a.owner, f"{a.mrr:,.0f}",
                         f"{a.score:.0f} {a.band}",
                         "—" if a.change is None else f"{a.change:+.0f}", *risk, a.reason])
        widths = (48, 30, 22, 20, 16) + (() if r.churn_note else (16,)) + (38,)
        align = ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT") + (
            () if r.churn_note else ("RIGHT",)) + ("LEFT",)
        pdf.grid(rows, widths, align)

    pdf.heading("Voice of the customer")
    nps = r.kpi("nps")
    pdf.paragraph(f"NPS {nps.display} from {nps.n} responses (previous period "
                  f"{format_value(nps.previous, Unit.SCORE)}).")
    pdf.chart(charts["nps_trend"], height=55)
    if r.themes:
        with_period = r.themes[0].in_period is not None
        rows = [["Theme", *(["This period"] if with_period else []), "Texts", "Customers",
                 "Negative", "Example"]]
        for t in r.themes:
            rows.append([t.label, *([str(t.in_period)] if with_period else []), str(t.texts),
                         str(t.customers),
                         "—" if t.negative_share is None else f"{t.negative_share:.0%}",
                         f"“{t.example}”"])
        widths = (28, *((20,) if with_period else ()), 16, 20, 18, 88 - (0 if with_period
                                                                          else -20))
        pdf.grid(rows, widths, ("LEFT", *(("RIGHT",) if with_period else ()), "RIGHT",
                                "RIGHT", "RIGHT", "LEFT"))
    if r.requests:
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(0, 7, "Top feature requests", new_x="LMARGIN", new_y="NEXT")
        rows = [["Request", "Customers", "Their MRR", "Last asked", "Status"]]
        rows += [[q.label, str(q.customers), f"{q.mrr:,.0f}", str(q.last_asked or ""),
                  q.status] for q in r.requests]
        pdf.grid(rows, (86, 20, 26, 24, 24), ("LEFT", "RIGHT", "RIGHT", "LEFT", "LEFT"))
    return bytes(pdf.output())
