"""What the API and the dashboard both show, kept until the data changes (``Site.remember``):
every account's health, one account's explanation, the latest churn risks, the customers
(the list, and the list with health and changes that the customers page and API show)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from csmetrics.errors import UserInputError
from csmetrics.health import HealthScores, Scorecard
from csmetrics.health.explain import Explanation, explain
from csmetrics.health.history import previous_scores
from csmetrics.predict.results import latest_churn_risks
from csmetrics.reports.customer360 import CustomerViews
from csmetrics.reports.customers import NOT_PAYING
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


#: The windows the customers list's change columns can look back over, in days.
CHANGE_DAYS = (7, 30, 90)


def customer_table(site: Site, ws: Workspace, days: int = 30) -> pd.DataFrame:
    """Every customer as the customers list shows it (callers must not change it): profile,
    MRR and ARR on the data end, ``mrr_change`` (MRR minus its MRR ``days`` days before),
    health (``score``, ``coverage``, ``band``: "not paying" without a score), ``change`` of
    the score since the latest stored snapshot at least ``days`` days old (empty without
    one), ``change_since`` (that snapshot's date) and the stored churn ``risk``."""
    if days not in CHANGE_DAYS:
        raise UserInputError(f"days={days} is not a window of the customers list; use one of "
                             f"{', '.join(map(str, CHANGE_DAYS))}.")

    def compute() -> pd.DataFrame:
        scored = health(site, ws)
        frame = customer_list(site, ws).merge(
            scored.scores[["customer_id", "score", "coverage", "band"]], on="customer_id",
            how="left")
        before = scored.as_of - timedelta(days=days)
        then = ws.query("mrr", period="day", start=before, end=before, by="customer_id")
        earlier = then.set_index("customer_id")["value"].astype("float64")
        frame["mrr_change"] = frame["mrr"] - frame["customer_id"].map(earlier).fillna(0.0)
        old = previous_scores(ws.warehouse.sql, before + timedelta(days=1))
        old = old.set_index("customer_id")
        frame["change"] = frame["score"] - frame["customer_id"].map(old["previous_score"])
        frame["change_since"] = pd.to_datetime(
            frame["customer_id"].map(old["previous_as_of"])).dt.date
        frame["risk"] = frame["customer_id"].map(churn_risks(site, ws))
        frame["band"] = frame["band"].fillna(NOT_PAYING)
        return frame
    return site.remember(("customer table", days), compute)


def customer_views(site: Site, ws: Workspace) -> CustomerViews:
    """Every customer's 360 view."""
    return site.remember("customer views", ws.customer_views)
