"""csmetrics: customer-success analytics on your own data.

Open a workspace and use it::

    from csmetrics import Workspace
    with Workspace.find() as ws:
        ws.ingest("customers", [Path("customers.csv")])

``Workspace``, ``Settings`` and ``MetricRequest`` are imported on first use (PEP 562), so that
``import csmetrics`` (and the command line, which starts from here) does not pay for pandas,
Ibis and DuckDB until a command needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from csmetrics._lazy import lazy_names
from csmetrics._version import __version__ as __version__
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

if TYPE_CHECKING:
    import pandas as pd

    from csmetrics.config import Settings
    from csmetrics.metrics import MetricRequest
    from csmetrics.workspace import Workspace

#: The names imported on first use, and the module each comes from.
_LAZY = {
    "MetricRequest": "csmetrics.metrics",
    "Settings": "csmetrics.config",
    "Workspace": "csmetrics.workspace",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


def query(metrics: str | list[str], *, workspace: str | Path | None = None,
          **request: Any) -> pd.DataFrame:
    """Compute metrics in a workspace (found from the current folder unless given).

    >>> import csmetrics  # doctest: +SKIP
    >>> csmetrics.query(["mrr", "nrr"], period="month", by="plan")  # doctest: +SKIP

    ``request`` takes ``period``, ``start``, ``end``, ``by``, ``customer``, ``where`` and
    ``as_of``; the result has one row per metric, period and segment.
    """
    from csmetrics.workspace import Workspace

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
