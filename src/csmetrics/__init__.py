"""csmetrics: customer-success analytics on your own data.

Open a workspace and use it::

    from csmetrics import Workspace
    with Workspace.find() as ws:
        ws.ingest("customers", [Path("customers.csv")])
"""

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
from csmetrics.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CsMetricsError",
    "CsMetricsWarning",
    "InternalError",
    "Settings",
    "UnknownNameError",
    "UserInputError",
    "ValidationError",
    "Workspace",
    "WorkspaceNotFoundError",
]
