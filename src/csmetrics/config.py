"""Workspace settings: the typed content of ``csmetrics.toml``, with errors that name the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from csmetrics.errors import ConfigError

CONFIG_FILE = "csmetrics.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSection(_Section):
    """Who the workspace is for and how money and time are read."""

    name: str = "My company"
    currency: str = Field("USD", description="Reporting currency, ISO 4217.")
    timezone: str = Field("UTC", description="IANA time zone that defines calendar dates.")

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"must be a three-letter ISO 4217 code such as USD or EUR, not {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; use a name like 'UTC' or 'Europe/Berlin'"
            ) from None
        return value


class EngineSection(_Section):
    """Where the warehouse lives and how much of the machine it may use."""

    url: str = Field(
        "duckdb:///csmetrics.duckdb",
        description="Connection URL; a relative DuckDB path is relative to the workspace.",
    )
    memory_limit: str = Field("", description="DuckDB memory limit such as '4GB'; empty = default.")
    temp_directory: str = Field("", description="Where DuckDB spills to disk; empty = default.")
    threads: int = Field(0, ge=0, description="Worker threads; 0 = all cores.")


class FiscalSection(_Section):
    """Calendar conventions for periods."""

    year_start_month: int = Field(1, ge=1, le=12, description="First month of the fiscal year.")
    week_start: Literal["monday", "sunday"] = "monday"


class PolicySection(_Section):
    """The choices on which analytics tools disagree; ``preset`` picks a known set of them and
    any key set here overrides the preset. See ``csmetrics.metrics.policy`` for the meaning of
    each choice and the presets."""

    preset: Literal["default", "chartmogul", "stripe"] = "default"
    churn_recognition: Literal["end_of_service", "cancellation"] | None = None
    reactivation_min_gap_days: int | None = Field(None, ge=0)
    discounts: Literal["deduct", "ignore"] | None = None
    delinquent_churn_days: int | None = Field(None, ge=0)
    free_plans_are_customers: bool | None = None
    currency_rate_at: Literal["period_end", "service_start"] | None = None
    within_period_churn: Literal["separate", "include"] | None = None


class MetricsSection(_Section):
    """Definitions users tune: what counts as active, positive, easy, converted."""

    active_events: list[str] = Field(
        default_factory=list, description="Events that make a user active; empty = any event.")
    key_events: list[str] = Field(
        default_factory=list,
        description="Events that mean a customer got value (time to value); empty = any.")
    csat_positive_min_5: float = Field(4, description="Lowest positive CSAT on a 1-5 scale.")
    csat_positive_min_10: float = Field(7, description="Lowest positive CSAT on a 1-10 scale.")
    ces_easy_min: float = Field(5, description="Lowest 'easy' answer on the 1-7 CES scale.")
    gross_margin: float = Field(0.8, gt=0, le=1, description="Gross margin for CLV and payback.")
    clv_method: Literal[1, 2] = Field(
        2, description="CLV method: 1 = average purchase value x purchase frequency x lifespan "
        "(purchases), 2 = ARPA x gross margin / monthly customer churn (subscriptions).")
    conversion_denominator: Literal["leads", "visitors"] = Field(
        "leads", description="Conversion rate over leads created or over visitors (traffic).")
    renewal_grace_days: int = Field(
        30, ge=0, description="A contract renewed late within this many days still renewed.")
    retention_cost_per: Literal["retained", "all"] = Field(
        "retained", description="Divide retention spend by retained or by all customers.")
    value_unlock_window_months: int = Field(
        6, ge=1, description="How far after adoption value unlock looks for retention.")
    default_segments: list[str] = Field(
        default_factory=lambda: ["plan", "region", "size_tier", "owner", "acquisition_channel"],
        description="Segments that 'csmetrics refresh' materialises besides the total.")


class Settings(_Section):
    """Everything ``csmetrics.toml`` can say. Unknown keys are errors, so typos don't pass."""

    workspace: WorkspaceSection = WorkspaceSection()
    engine: EngineSection = EngineSection()
    fiscal: FiscalSection = FiscalSection()
    policy: PolicySection = PolicySection()
    metrics: MetricsSection = MetricsSection()
    targets: dict[str, float | dict[str, float]] = Field(
        default_factory=dict,
        description="Targets per metric: a number, or a table of 'default' and "
        "'column=value' segments.",
    )

    @classmethod
    def from_toml(cls, path: Path) -> Settings:
        """Read and validate a config file; errors name the file, the key and the fix."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8.") from None
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = CONFIG_FILE) -> Settings:
        """Validate already-parsed settings."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, naming the dotted key as the user wrote it and what to do."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the configuration:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key; remove it or check its spelling.")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  - {key} = {error.get('input')!r}: {message}.")
    return "\n".join(lines)


DEFAULT_CONFIG = """\
# csmetrics workspace configuration. Every key is optional; the values below are the defaults.

[workspace]
name = "{name}"
currency = "{currency}"          # reporting currency (ISO 4217); other currencies need exchange_rates
timezone = "{timezone}"           # IANA zone: defines calendar days, weeks and months

[engine]
url = "duckdb:///csmetrics.duckdb"   # relative DuckDB paths are relative to this folder
memory_limit = ""                    # e.g. "4GB"; empty = DuckDB's default (80 % of RAM)
temp_directory = ""                  # where large queries spill; empty = DuckDB's default
threads = 0                          # 0 = all cores

[fiscal]
year_start_month = 1                 # 1 = January; 4 = a fiscal year starting in April
week_start = "monday"                # or "sunday"

[policy]
# The choices analytics tools disagree on. A preset ("default", "chartmogul", "stripe") sets
# them all; any key below overrides the preset. 'csmetrics metrics explain NAME' shows them.
preset = "default"
# churn_recognition = "end_of_service"   # or "cancellation" (uses subscriptions.canceled_at)
# reactivation_min_gap_days = 0          # shorter gaps between subscriptions are continuous
# discounts = "deduct"                   # or "ignore" (MRR at list price)
# delinquent_churn_days = 0              # > 0: past due this long counts as churned
# free_plans_are_customers = false       # count $0 subscriptions as customers
# currency_rate_at = "period_end"        # or "service_start"
# within_period_churn = "separate"       # or "include" (joined and left in one period)

[metrics]
active_events = []                   # events that make a user active; empty = any event
key_events = []                      # first value for time to value; empty = any event
csat_positive_min_5 = 4              # 4-5 is positive on a 1-5 scale
csat_positive_min_10 = 7             # 7-10 on a 1-10 scale (some teams use 8)
ces_easy_min = 5                     # 5-7 is easy on the 1-7 scale
gross_margin = 0.8                   # for subscription CLV and CAC payback
clv_method = 2                       # 2 = ARPA x margin / churn; 1 = APV x frequency x lifespan
conversion_denominator = "leads"     # or "visitors": conversions over the traffic table's visitors
renewal_grace_days = 30
retention_cost_per = "retained"      # or "all"
default_segments = ["plan", "region", "size_tier", "owner", "acquisition_channel"]

[targets]
# nrr = 1.05
# customer_churn_rate = 0.02
# nps = {{ default = 40, "region=EMEA" = 30 }}
"""
