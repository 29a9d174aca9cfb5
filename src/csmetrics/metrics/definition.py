"""A metric is a validated record plus one function that builds an Ibis expression.

Every builder returns a table with one row per period (and segment) and the standard result
columns of ``result.py``: ``period_start``, the segment columns, ``value``, ``n`` and, where
they apply, ``ci_low``, ``ci_high`` and ``null_reason``. Extra columns (NPS's three shares,
a churn rate's annualised value) are allowed and kept in the output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from csmetrics.errors import InternalError, UnknownNameError, closest

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from csmetrics.metrics.context import MetricContext


class Unit(Enum):
    """What a metric's value measures, which decides how it is rendered."""

    MONEY = "money"
    RATE = "rate"  # a fraction: 0.05 is rendered as 5.0 %
    COUNT = "count"
    SCORE = "score"
    HOURS = "hours"
    DAYS = "days"
    RATIO = "ratio"  # a plain multiple: 3.2 is rendered as 3.2x
    MONTHS = "months"
    YEARS = "years"


class Direction(Enum):
    """Which way is good."""

    UP = "up"
    DOWN = "down"
    NEUTRAL = "neutral"


class Section(Enum):
    """The METRICS.md section a metric belongs to."""

    REVENUE = "Revenue and retention"
    PURCHASES = "Purchases"
    VALUE = "Value and cost"
    SATISFACTION = "Satisfaction, loyalty, advocacy"
    SUPPORT = "Support"
    USAGE = "Product usage and adoption"
    ACQUISITION = "Acquisition"


Builder = Callable[["MetricContext"], "ir.Table"]


@dataclass(frozen=True)
class Benchmark:
    """A published range for a metric (either end may be open) and the period it applies
    to: ``per`` is week/month/quarter/year, or None for a level that holds for any period
    (NRR above 100 %). ``convert`` says how the range carries to another period when that
    is exact for the unit: ``"churn"`` (1 - (1 - c)^k), ``"retention"`` (r^k), or None
    (the range is then shown with its own period)."""

    low: float | None = None
    high: float | None = None
    per: str | None = None
    convert: str | None = None
    #: More to say, shown after the range ("SaaS; 1-2 % a year for enterprise").
    note: str = ""


@dataclass(frozen=True)
class MetricDefinition:
    """Everything known about one metric, and how to compute it."""

    name: str
    title: str
    section: Section
    unit: Unit
    direction: Direction
    description: str
    formula: str
    tables: tuple[str, ...]
    build: Builder
    benchmark: str | None = None
    #: The benchmark as data, in the period it applies to (see ``Benchmark``); the
    #: dashboard shows it converted to the page's period where that is exact.
    benchmark_range: Benchmark | None = None
    edge_cases: str = ""
    customer_level: bool = True  # meaningful for a single customer (--customer)
    extra_columns: tuple[str, ...] = field(default=())
    #: A period without any row gets this value (0 for sums and counts) or, when None, an
    #: empty value with ``empty_reason``.
    empty_value: float | None = None
    empty_reason: str = "no data in the period"
    #: A column the metric is always broken down by (``event`` for feature adoption,
    #: ``employee`` for employee ratings); added to the segments when not asked for.
    dimension: str | None = None
    #: Whether refresh may compute the total and all segments in one stacked query; False
    #: for metrics whose denominators come from tables without customers (costs, traffic).
    stackable: bool = True
    #: Tables among ``tables`` whose later facts (``ingest.changes.LATER_FACTS``: a ticket's
    #: response or resolution, a lead's conversion) the metric never reads: a batch that only
    #: brought such facts leaves it as it was.
    ignores_later_facts: tuple[str, ...] = ()
    #: Whether each row of its tables counts, on its own, in the period of one of the row's
    #: dates (a ticket in the period it was opened or resolved in), with no window before or
    #: after the period: a batch that only brought later facts changes only the periods of
    #: the days of the rows it touched.
    period_local: bool = False


REGISTRY: dict[str, MetricDefinition] = {}


def metric(
    name: str,
    *,
    title: str,
    section: Section,
    unit: Unit,
    direction: Direction,
    formula: str,
    tables: tuple[str, ...],
    benchmark: str | None = None,
    benchmark_range: Benchmark | None = None,
    edge_cases: str = "",
    customer_level: bool = True,
    extra_columns: tuple[str, ...] = (),
    empty_value: float | None = None,
    empty_reason: str = "no data in the period",
    dimension: str | None = None,
    stackable: bool = True,
    ignores_later_facts: tuple[str, ...] = (),
    period_local: bool = False,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder as metric ``name``; its docstring is the description."""

    def register(build: Builder) -> Builder:
        if name in REGISTRY:
            raise InternalError(f"Metric {name!r} is defined twice.")
        description = " ".join((build.__doc__ or "").split())
        if not description:
            raise InternalError(f"Metric {name!r} needs a docstring: its description.")
        if not set(ignores_later_facts) <= set(tables):
            raise InternalError(f"Metric {name!r}: ignores_later_facts names a table it "
                                "does not declare in tables.")
        REGISTRY[name] = MetricDefinition(
            name=name, title=title, section=section, unit=unit, direction=direction,
            description=description, formula=formula, tables=tables, build=build,
            benchmark=benchmark, benchmark_range=benchmark_range, edge_cases=edge_cases,
            customer_level=customer_level,
            extra_columns=extra_columns, empty_value=empty_value, empty_reason=empty_reason,
            dimension=dimension, stackable=stackable, ignores_later_facts=ignores_later_facts,
            period_local=period_local,
        )
        return build

    return register


def get_metric(name: str) -> MetricDefinition:
    """The metric called ``name``; a clear error suggesting the closest one."""
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"There is no metric {name!r}.{closest(name, list(REGISTRY))} "
            "See 'csmetrics metrics list'."
        ) from None


def all_metrics() -> list[MetricDefinition]:
    """Every registered metric, in catalogue order."""
    _load_all()
    return list(REGISTRY.values())


def _load_all() -> None:
    """Import every module that defines metrics (each registers itself on import)."""
    from csmetrics.metrics import catalogue  # noqa: F401
