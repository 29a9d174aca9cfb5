"""Metric definitions (one registry) and the engine that computes them.

The names are imported on first use (PEP 562): the registry's records (``definition``) need
neither pandas nor Ibis, so listing the metrics stays cheap; ``compute`` and
``MetricRequest`` bring in the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csmetrics.metrics.definition import MetricDefinition, all_metrics, get_metric
    from csmetrics.metrics.engine import MetricRequest, compute
    from csmetrics.metrics.periods import Grain

#: Each public name and the module it comes from.
_LAZY = {
    "Grain": "csmetrics.metrics.periods",
    "MetricDefinition": "csmetrics.metrics.definition",
    "MetricRequest": "csmetrics.metrics.engine",
    "all_metrics": "csmetrics.metrics.definition",
    "compute": "csmetrics.metrics.engine",
    "get_metric": "csmetrics.metrics.definition",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'csmetrics.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["Grain", "MetricDefinition", "MetricRequest", "all_metrics", "compute", "get_metric"]
