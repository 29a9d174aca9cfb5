"""csmetrics: customer-success analytics on your own data.

Open a workspace and use it::

    from csmetrics import Workspace
    with Workspace.find() as ws:
        ws.ingest("customers", [Path("customers.csv")])
"""

from pathlib import Path
from typing import Any

import pandas as pd

from csmetrics._version import __version__ as __version__
from csmetrics.config import Settings
from csmetrics.errors import (
    ConfigError,
    CsMetricsError,
    CsMetricsWarning,
    InternalError,
    UnknownNameError,
    UserInputError,
    ValidationError,
    WorkspaceNotFoundError,
)
from csmetrics.metrics import MetricRequest
from csmetrics.workspace import Workspace


def query(metrics: str | list[str], *, workspace: str | Path | None = None,
          **request: Any) -> pd.DataFrame:
    """Compute metrics in a workspace (found from the current folder unless given).

    >>> import csmetrics  # doctest: +SKIP
    >>> csmetrics.query(["mrr", "nrr"], period="month", by="plan")  # doctest: +SKIP

    ``request`` takes ``period``, ``start``, ``end``, ``by``, ``customer``, ``where`` and
    ``as_of``; the result has one row per metric, period and segment.
    """
    with Workspace.find(None if workspace is None else Path(workspace)) as ws:
        return ws.query(metrics, **request)

__all__ = [
    "ConfigError",
    "CsMetricsError",
    "CsMetricsWarning",
    "InternalError",
    "MetricRequest",
    "Settings",
    "UnknownNameError",
    "UserInputError",
    "ValidationError",
    "Workspace",
    "WorkspaceNotFoundError",
    "query",
]
