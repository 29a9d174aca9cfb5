"""Customer commands: the customer list, filtered, searched, sorted, printed or exported."""

from __future__ import annotations

from typing import Annotated

import typer

from csmetrics.cli._export import OutOption, write_out
from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    emit,
    handles_errors,
    open_workspace,
    records,
)

app = typer.Typer()
customers_app = typer.Typer(help="Customers: the list with MRR and health.",
                            no_args_is_help=True)
app.add_typer(customers_app, name="customers")


@customers_app.command("list")
@handles_errors
def customers_list(
    band: Annotated[str | None, typer.Option(
        help="Only this health band: red, yellow, green, insufficient (too little data), "
        "unknown or 'not paying'.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner (CSM).")] = None,
    plan: Annotated[str | None, typer.Option(help="Only this plan.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    size_tier: Annotated[str | None, typer.Option("--size-tier", help="Only this size tier."
                                                  )] = None,
    search: Annotated[str | None, typer.Option(help="Part of the customer id or name "
                                               "(case does not matter).")] = None,
    sort: Annotated[str, typer.Option(help="Column to sort by, '-' in front for largest "
                                      "first: mrr, name, started_at, score, change ...")
                    ] = "-mrr",
    fmt: FormatOption = OutputFormat.TABLE,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Every customer with MRR on the last day of the data and, for paying ones, health score,
    band and change; filters combine (like GET /api/v1/customers)."""
    from csmetrics.reports.customers import customer_table, select_customers

    with open_workspace(workspace) as ws:
        frame = select_customers(customer_table(ws), search=search, sort=sort, band=band,
                                 owner=owner, plan=plan, region=region, size_tier=size_tier)
        zone = ws.settings.workspace.timezone
    if out is not None:
        write_out(frame, out, sheet="customers", timezone=zone)
        return
    rows = records(frame)
    if fmt is OutputFormat.TABLE:
        for r in rows:
            r["mrr"] = f"{r['mrr']:,.2f}"
            r["arr"] = f"{r['arr']:,.2f}"
            r["score"] = "" if r["score"] is None else f"{r['score']:.1f}"
            r["coverage"] = "" if r["coverage"] is None else f"{r['coverage'] * 100:.0f} %"
            r["change"] = "" if r["change"] is None else f"{r['change']:+.1f}"
            for key in ("plan", "region", "owner", "size_tier"):
                r[key] = r[key] or ""
    emit(rows, fmt, title=f"Customers ({len(rows):,})", empty="No customers match.")
