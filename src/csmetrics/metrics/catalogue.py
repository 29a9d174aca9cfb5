"""Imports every module that defines metrics; each registers its metrics on import.

The order here is the order of ``csmetrics metrics list`` (METRICS.md's sections).
"""

from csmetrics.metrics import revenue  # noqa: F401
