"""Metric definitions (one registry) and the engine that computes them."""

from csmetrics.metrics.definition import MetricDefinition, all_metrics, get_metric
from csmetrics.metrics.engine import MetricRequest, compute
from csmetrics.metrics.periods import Grain

__all__ = ["Grain", "MetricDefinition", "MetricRequest", "all_metrics", "compute", "get_metric"]
