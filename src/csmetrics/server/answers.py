"""What the API and the dashboard both show, kept until the data changes (``Site.remember``):
every account's health, one account's explanation, the latest churn risks, the customers."""

from __future__ import annotations

from datetime import date

import pandas as pd

from csmetrics.errors import UserInputError
from csmetrics.health import HealthScores, Scorecard
from csmetrics.health.explain import Explanation, explain
from csmetrics.predict.results import latest_churn_risks
from csmetrics.reports.customer360 import CustomerViews
from csmetrics.server.deps import Site
from csmetrics.workspace import Workspace


def health(site: Site, ws: Workspace, as_of: date | None = None) -> HealthScores:
    """Every paying account's health as of ``as_of`` (default: the data end), from the stored
    snapshot when it is current (``Workspace.health(stored=True)``)."""
    return site.remember(("health", as_of), lambda: ws.health(as_of, stored=True))


def scorecard(site: Site, ws: Workspace) -> Scorecard:
    """The workspace's health scorecard."""
    return site.remember("scorecard", ws.scorecard)


def health_explanation(site: Site, ws: Workspace, customer: str,
                       as_of: date | None = None) -> Explanation | None:
    """Why ``customer`` scores what it scores; None when it has no score that day (not
    paying, or no such customer: ``explain`` says which, for an error message)."""
    def compute() -> Explanation | None:
        try:
            return explain(health(site, ws, as_of), scorecard(site, ws), customer)
        except UserInputError:
            return None
    return site.remember(("health explanation", customer, as_of), compute)


def churn_risks(site: Site, ws: Workspace) -> dict[str, float]:
    """Each scored customer's churn probability from its latest scoring."""
    return site.remember("churn risks", lambda: dict(
        latest_churn_risks(ws.warehouse.sql).itertuples(index=False)))


def customer_list(site: Site, ws: Workspace) -> pd.DataFrame:
    """Every customer's profile columns and MRR on the data end
    (``Workspace.customer_list(stored=True)``); callers must not change it."""
    return site.remember("customer list", lambda: ws.customer_list(stored=True))


def customer_views(site: Site, ws: Workspace) -> CustomerViews:
    """Every customer's 360 view."""
    return site.remember("customer views", ws.customer_views)
