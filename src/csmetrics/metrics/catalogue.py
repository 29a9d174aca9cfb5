"""Imports every module that defines metrics; each registers its metrics on import.

The order here is the order of ``csmetrics metrics list`` (METRICS.md's sections).
"""

from csmetrics.metrics import (
    acquisition,  # noqa: F401
    purchases,  # noqa: F401
    revenue,  # noqa: F401
    support,  # noqa: F401
    surveys,  # noqa: F401
    usage,  # noqa: F401
    value,  # noqa: F401
    voice,  # noqa: F401
)
