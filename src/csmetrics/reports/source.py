"""What the reports read from a workspace, as a protocol.

Reports sit below the workspace (``csmetrics.workspace`` imports them, never the other way,
see ``tests/test_layers.py``), so they take any object with these members:
``csmetrics.workspace.Workspace`` is the one passed in at runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

if TYPE_CHECKING:
    from csmetrics.clock import Clock
    from csmetrics.config import Settings
    from csmetrics.health import HealthScores
    from csmetrics.insights.requests import RequestReport
    from csmetrics.insights.themes import ThemeReport
    from csmetrics.store import Warehouse
    from csmetrics.store.appstore import AppConnection

__all__ = ["ReportSource"]


class ReportSource(Protocol):
    """A workspace as the reports use it: its settings, clock, warehouse and app store, and the
    figures it computes (metrics, health, churn scores, customers, voice of the customer)."""

    settings: Settings
    clock: Clock

    @property
    def warehouse(self) -> Warehouse:
        """The open warehouse."""
        ...

    @property
    def app(self) -> AppConnection:
        """The app store (notifications, schedule runs: ``csmetrics.store.appstore``)."""
        ...

    def data_end(self) -> date:
        """The last day anything was recorded, never after today."""
        ...

    def query(self, metrics: str | Sequence[str], *, stored: bool = False,
              **request: Any) -> pd.DataFrame:
        """Metrics: one row per metric, period and segment."""
        ...

    def customer_list(self) -> pd.DataFrame:
        """Every customer's profile columns and MRR on the last day of the data."""
        ...

    def health(self, as_of: date | str | None = None) -> HealthScores:
        """Every paying account's health as of ``as_of``."""
        ...

    def churn_scores(self, as_of: date | str | None = None) -> pd.DataFrame:
        """Every paying customer's churn risk from the saved model."""
        ...

    def voice_themes(self, **options: Any) -> ThemeReport:
        """Themes of the comments, notes and feedback."""
        ...

    def voice_requests(
        self, **options: Any
    ) -> RequestReport | tuple[RequestReport, pd.DataFrame]:
        """Feature requests merged and ranked."""
        ...
