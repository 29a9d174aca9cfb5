"""Metric definitions (one registry) and the engine that computes them.

The names are imported on first use (PEP 562): the registry's records (``definition``) need
neither pandas nor Ibis, so listing the metrics stays cheap; ``compute`` and
``MetricRequest`` bring in the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = ["Grain", "MetricDefinition", "MetricRequest", "all_metrics", "compute", "get_metric"]
