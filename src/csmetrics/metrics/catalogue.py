"""Imports every module that defines metrics; each registers its metrics on import.

The order here is the order of ``csmetrics metrics list`` (METRICS.md's sections).
"""

from csmetrics.metrics import revenue  # noqa: F401
from csmetrics.metrics import purchases  # noqa: F401
from csmetrics.metrics import value  # noqa: F401
from csmetrics.metrics import surveys  # noqa: F401
from csmetrics.metrics import support  # noqa: F401
from csmetrics.metrics import usage  # noqa: F401
from csmetrics.metrics import acquisition  # noqa: F401
