"""The scorecard: which signals make up an account's health, how each maps to 0-100 points,
their weights, how missing data is treated, and the red / yellow / green cut-offs.

A workspace keeps its scorecard in ``health.toml`` (``csmetrics init`` writes the commented
default below; without the file the same default applies). Each ``[components.NAME]`` table:

``signal``
    What is measured (default: the component's own name): one of ``SIGNALS`` or
    ``"metric:<registry name>"`` (any metric from 'csmetrics metrics list', per customer, for
    the month that contains the scoring date).
``weight``
    Its share of the score (any positive numbers; they are normalised to sum to 1).
``window_days``
    How far back the signal looks (signals with a window only).
``thresholds`` *or* ``linear``
    The mapping to points. ``thresholds = [[at_least, points], ...]`` in increasing order: the
    points of the highest threshold the raw value reaches (``below`` points under the first).
    ``linear = [[value, points], ...]`` in increasing order of value: straight lines between
    the corners, flat beyond the ends (any curve, drawn with enough corners).
``missing``
    No data for the account: ``"skip"`` (leave the component out, the others share its
    weight), ``"neutral"`` (50 points) or a number of points.

``[bands]`` holds the cut-offs: ``red_below`` (default 40), ``green_from`` (default 70) and
``min_coverage`` (default 0.5): an account whose components with data carry less than that
share of the scorecard's weight (its *coverage*) is banded ``insufficient`` ("insufficient
data"), whatever its score, instead of red, yellow or green.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from csmetrics.config import describe_validation_error, read_config_text
from csmetrics.errors import ConfigError, closest

SCORECARD_FILE = "health.toml"


@dataclass(frozen=True)
class Signal:
    """A built-in raw measure of one account as of a date."""

    name: str
    meaning: str  # plain words, with {window} for the window
    unit: str  # "share", "change", "count", "score", "sentiment", "days"
    window_days: int | None = None


SIGNALS: dict[str, Signal] = {s.name: s for s in (
    Signal("usage_trend", "change in product usage (sum of event quantities) in the last "
           "{window} days against the {window} days before", "change", 60),
    Signal("usage_volume", "product usage (sum of event quantities, 1 per event without one) "
           "in the last {window} days", "count", 30),
    Signal("active_users", "distinct users active in the last {window} days", "count", 30),
    Signal("seat_utilisation", "users active in the last {window} days per licensed seat",
           "share", 30),
    Signal("feature_breadth", "share of the product's features (events seen across all "
           "customers) the account used in the last {window} days", "share", 90),
    Signal("support_load", "support tickets opened in the last {window} days", "count", 90),
    Signal("first_contact_resolution", "share of tickets resolved in the last {window} days "
           "that were resolved at the first contact", "share", 180),
    Signal("nps_latest", "latest NPS answer (0-10)", "score"),
    Signal("csat_latest", "latest CSAT answer (on a 1-5 scale)", "score"),
    Signal("csm_sentiment", "sentiment of the last CSM activity (1 positive, 0 neutral, "
           "-1 negative)", "sentiment"),
    Signal("payment_problems", "failed or refunded orders in the last {window} days, plus 1 "
           "while a subscription is past due", "count", 180),
    Signal("renewal_history", "share of the account's ended subscriptions that were renewed "
           "(a new one started within {window} days of the end)", "share", 30),
    Signal("csm_engagement", "CSM activities (calls, meetings, emails, check-ins, QBRs) in "
           "the last {window} days", "count", 90),
    Signal("comment_sentiment", "mean sentiment (-1 to +1) of what the customer and the CSM "
           "wrote in the last {window} days (survey comments, notes, feedback)", "sentiment",
           90),
)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Component(_Strict):
    """One line of the scorecard."""

    signal: str = ""
    weight: float = Field(description="Share of the score; positive.")
    window_days: int | None = Field(None, ge=1)
    thresholds: list[tuple[float, float]] | None = None
    below: float = Field(0, ge=0, le=100)
    linear: list[tuple[float, float]] | None = None
    missing: Literal["skip", "neutral"] | float = "skip"

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if value == "" or value in SIGNALS:
            return value
        if value.startswith("metric:"):
            from csmetrics.metrics import get_metric

            try:
                m = get_metric(value.removeprefix("metric:"))
            except ValueError as exc:
                raise ValueError(str(exc).rstrip(".")) from None
            if not m.customer_level or m.dimension:
                raise ValueError(f"metric {m.name!r} has no single value per customer; choose "
                                 "another metric or a built-in signal")
            return value
        raise ValueError(
            f"unknown signal{closest(value, list(SIGNALS))} Use one of {', '.join(SIGNALS)}, "
            "or 'metric:<name>' for a metric from 'csmetrics metrics list'"
        )

    @field_validator("weight")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("a weight is the component's share of the score and must be above "
                             "0; give it a positive number such as 10, or remove the component")
        return value

    @field_validator("missing")
    @classmethod
    def _points(cls, value: object) -> object:
        if isinstance(value, float) and not 0 <= value <= 100:
            raise ValueError("must be 'skip', 'neutral' or points from 0 to 100")
        return value

    @field_validator("thresholds", "linear")
    @classmethod
    def _corners(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one [value, points] pair")
        xs = [x for x, _ in value]
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise ValueError(f"values must increase from pair to pair, got {xs}; sort the pairs "
                             "by their first number and drop duplicates")
        bad = [p for _, p in value if not 0 <= p <= 100]
        if bad:
            raise ValueError(f"points must be from 0 to 100, got {bad}")
        return value

    @model_validator(mode="after")
    def _one_mapping(self) -> Component:
        if (self.thresholds is None) == (self.linear is None):
            raise ValueError("give exactly one mapping to points: 'thresholds = [[at_least, "
                             "points], ...]' or 'linear = [[value, points], ...]'")
        if self.window_days is not None and (
                self.signal not in SIGNALS or SIGNALS[self.signal].window_days is None):
            raise ValueError(f"signal {self.signal!r} has no window; remove window_days")
        return self

    def window(self) -> int | None:
        """The window in days this component looks back over (None: no window)."""
        signal = SIGNALS.get(self.signal)
        if signal is None or signal.window_days is None:
            return None
        return self.window_days or signal.window_days

    def meaning(self) -> str:
        """What the raw value is, in plain words."""
        if self.signal.startswith("metric:"):
            from csmetrics.metrics import get_metric

            m = get_metric(self.signal.removeprefix("metric:"))
            return f"{m.title} for the account, in the month of the scoring date"
        return SIGNALS[self.signal].meaning.format(window=self.window())


#: The band of an account whose data covers less than ``min_coverage`` of the scorecard.
INSUFFICIENT = "insufficient"
#: Every band a scored account can have, worst first; ``unknown``: no score at all.
BANDS = ("red", "yellow", "green", INSUFFICIENT, "unknown")
#: How a band reads in words.
BAND_LABELS = {"red": "red", "yellow": "yellow", "green": "green",
               INSUFFICIENT: "insufficient data", "unknown": "no score"}


class Bands(_Strict):
    """Cut-offs: red below ``red_below``, green from ``green_from``, yellow between; an
    account whose coverage is below ``min_coverage`` is ``insufficient`` instead."""

    red_below: float = Field(40, ge=0, le=100)
    green_from: float = Field(70, ge=0, le=100)
    min_coverage: float = Field(
        0.5, ge=0, le=1, description="Share of the scorecard's weight (0-1) that must be backed "
        "by data for a band; below it the band is 'insufficient'.")

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if self.red_below > self.green_from:
            raise ValueError(f"red_below ({self.red_below:g}) must not be above green_from "
                             f"({self.green_from:g}); e.g. red_below = 40, green_from = 70")
        return self

    def band(self, score: float | None, coverage: float | None = None) -> str:
        """The colour of a score (``unknown`` when there is none); ``insufficient`` when the
        account's ``coverage`` (share of the weight backed by data) is below
        ``min_coverage``."""
        if coverage is not None and coverage == coverage \
                and round(coverage, 9) < self.min_coverage:
            return INSUFFICIENT
        if score is None or score != score:
            return "unknown"
        return "red" if score < self.red_below else "green" if score >= self.green_from \
            else "yellow"


class Scorecard(_Strict):
    """A whole scorecard: components and bands."""

    bands: Bands = Bands()
    components: dict[str, Component]

    @field_validator("components", mode="before")
    @classmethod
    def _signal_defaults_to_name(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: {"signal": name, **spec} if isinstance(spec, dict) else spec
                    for name, spec in value.items()}
        return value

    @field_validator("components")
    @classmethod
    def _some(cls, value: dict[str, Component]) -> dict[str, Component]:
        if not value:
            raise ValueError("the scorecard needs at least one component")
        return value

    @classmethod
    def from_text(cls, text: str, source: str) -> Scorecard:
        """Parse and validate TOML text; errors name the file, the key and the fix."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc}).") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None

    def weights(self) -> dict[str, float]:
        """Each component's weight as a share of the total."""
        total = sum(c.weight for c in self.components.values())
        return {name: c.weight / total for name, c in self.components.items()}


DEFAULT_SCORECARD = """\
# csmetrics health scorecard. Each account's score (0-100) is the weighted mean of its
# components' points; 'csmetrics health explain CUSTOMER' shows the working.
#
# [components.NAME]: signal (default: NAME; or "metric:<name>" for any metric), weight,
# window_days, one mapping - thresholds = [[at_least, points], ...] (with 'below' points under
# the first) or linear = [[value, points], ...] (straight lines between corners) - and
# missing = "skip" (leave out, the others share its weight), "neutral" (50) or points.

[bands]
red_below = 40       # scores under 40 are red
green_from = 70      # 70 and above are green; yellow in between
min_coverage = 0.5   # under half of the weight backed by data: "insufficient data", no colour

[components.usage_trend]          # change in usage, last 60 days vs the 60 before
weight = 20
linear = [[-0.6, 0], [-0.2, 40], [0.0, 70], [0.2, 100]]
missing = "skip"

[components.seat_utilisation]     # active users in 30 days / licensed seats
weight = 10
linear = [[0.0, 0], [0.5, 60], [0.9, 100]]
missing = "skip"

[components.feature_breadth]      # share of features used in 90 days
weight = 10
linear = [[0.0, 0], [0.3, 60], [0.6, 100]]
missing = "skip"

[components.support_load]         # tickets opened in 90 days
weight = 10
thresholds = [[0, 100], [3, 80], [6, 50], [10, 20], [15, 0]]
missing = "skip"

[components.first_contact_resolution]   # share of tickets resolved at first contact
weight = 5
linear = [[0.3, 0], [0.6, 60], [0.9, 100]]
missing = "skip"

[components.nps_latest]           # latest NPS answer 0-10
weight = 10
thresholds = [[0, 0], [5, 30], [7, 60], [9, 100]]
missing = "skip"

[components.csat_latest]          # latest CSAT answer on 1-5
weight = 5
thresholds = [[0, 0], [2, 20], [3, 50], [4, 80], [5, 100]]
missing = "skip"

[components.csm_sentiment]        # last CSM activity: -1 negative, 0 neutral, 1 positive
weight = 15
thresholds = [[-1, 0], [0, 50], [1, 100]]
missing = "skip"

[components.payment_problems]     # failed/refunded orders in 180 days (+1 while past due)
weight = 5
thresholds = [[0, 100], [1, 40], [2, 0]]
missing = "skip"

[components.renewal_history]      # share of ended subscriptions renewed
weight = 5
linear = [[0.0, 0], [1.0, 100]]
missing = "skip"

[components.csm_engagement]       # CSM activities in 90 days
weight = 5
thresholds = [[0, 30], [1, 70], [3, 100]]
missing = "skip"

# Any metric from 'csmetrics metrics list', per account, for the month of the scoring date:
# [components.nps_month]
# signal = "metric:nps"
# weight = 5
# linear = [[-100, 0], [0, 50], [100, 100]]
# missing = "skip"
"""


def default_scorecard() -> Scorecard:
    """The documented default: ``DEFAULT_SCORECARD`` parsed."""
    return Scorecard.from_text(DEFAULT_SCORECARD, "the default scorecard")


def load_scorecard(path: Path) -> Scorecard:
    """The scorecard in ``path``, or the default when the file does not exist."""
    if not path.is_file():
        return default_scorecard()
    return Scorecard.from_text(read_config_text(path), str(path))
