"""Workspace settings: the typed content of ``csmetrics.toml``, with errors that name the key."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from csmetrics.clock import EARLIEST_DAY, LATEST_DAY
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
            raise ValueError(
                f"must be a three-letter ISO 4217 code such as USD or EUR, not {value!r}")
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
    spark: dict[str, str] = Field(
        default_factory=dict,
        description="Spark configuration keys (spark.master, spark.driver.memory...) for a "
        "'pyspark://' engine.url; see README, 'Running on your warehouse'.")
    tables: str = Field(
        "", description="A file (relative to the workspace) mapping canonical tables to your "
        "own tables or SQL, which csmetrics reads as views ('csmetrics tables check' "
        "validates them); empty = the engine holds tables with the canonical names.")
    lake: str = Field(
        "", description="For a 'pyspark://' engine.url: the folder (relative to the workspace, "
        "or absolute: any path Spark and this machine both read) where csmetrics keeps the "
        "canonical tables as Parquet, so that ingest, refresh and the dashboard work on "
        "Spark; empty = the tables are the engine's own (your pipeline fills them).")


class FiscalSection(_Section):
    """Calendar conventions for periods."""

    year_start_month: int = Field(1, ge=1, le=12, description="First month of the fiscal year.")
    week_start: Literal["monday", "sunday"] = "monday"


class IngestSection(_Section):
    """What loading files accepts: dates outside ``earliest_date``..``latest_date`` (in any
    date or timestamp column) are refused as implausible."""

    earliest_date: date = Field(EARLIEST_DAY, description="The earliest date a loaded file may "
                                "hold.")
    latest_date: date = Field(LATEST_DAY, description="The latest date a loaded file may hold.")

    @field_validator("earliest_date", "latest_date")
    @classmethod
    def _supported(cls, value: date) -> date:
        if not EARLIEST_DAY <= value <= LATEST_DAY:
            raise ValueError(f"must be within the supported range {EARLIEST_DAY.isoformat()}.."
                             f"{LATEST_DAY.isoformat()}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> IngestSection:
        if self.earliest_date > self.latest_date:
            raise ValueError(f"earliest_date {self.earliest_date} is after latest_date "
                             f"{self.latest_date}")
        return self


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
    lifespan_source: Literal["observed", "survival"] = Field(
        "observed", description="CLV method 1's lifespan: the mean observed lifespan, or the "
        "expected lifespan of the last 'csmetrics survival' run (Kaplan-Meier).")
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


class HealthSection(_Section):
    """Where the health scorecard is and when scores are snapshotted."""

    scorecard: str = Field(
        "health.toml", description="Scorecard file, relative to the workspace; when it does "
        "not exist the documented default scorecard applies.")
    snapshot_on_refresh: bool = Field(
        True, description="'csmetrics refresh' stores a health snapshot as of the data end.")


class PredictSection(_Section):
    """Defaults of the prediction commands (each can be overridden by a flag)."""

    churn_horizon_days: int = Field(
        90, ge=7, description="A customer churned if it pays nothing this many days after the "
        "cutoff.")
    churn_cutoffs: int = Field(12, ge=3, description="Monthly cutoffs the churn model learns "
                               "from (the most recent ones whose horizon has passed).")
    seed: int = Field(0, description="Random seed of the churn model: same seed, same model.")
    clv_horizon_months: int = Field(12, ge=1, description="Months of future purchases in CLV.")
    clv_discount_rate: float = Field(0.1, ge=0, lt=1, description="Annual discount rate of CLV.")
    clv_time_unit: Literal["day", "week", "month"] = Field(
        "week", description="Time unit of the BG/NBD fit (frequency, recency, T).")


class VoiceSection(_Section):
    """Voice of the customer (``csmetrics voice``): which texts themes are found in, how they
    are anchored, and how similar two feature requests must be to count as one."""

    seed: int = Field(0, description="Random seed of the theme model: same seed, same themes.")
    theme_sources: list[Literal["survey_responses", "feedback", "activities"]] = Field(
        default_factory=lambda: ["survey_responses", "feedback"],
        description="Tables whose texts themes are found in; activities = CSM notes.")
    themes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Theme name -> seed words; empty = the built-in themes (onboarding, "
        "pricing, performance, reporting, support, integrations, usability, reliability).")
    anchor_strength: float = Field(
        0.3, ge=0, description="How strongly themes stay on their seed words (0 = free NMF).")
    extra_themes: int = Field(0, ge=0, le=50, description="Unnamed themes found besides the "
                              "seeded ones, named by their top words.")
    request_threshold: float = Field(
        0.15, gt=0, le=1, description="Cosine similarity at which two requests are merged.")


class EmailSection(_Section):
    """E-mail through an SMTP server. The password comes only from the environment variable
    ``password_env`` names, never from the file."""

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (upgrade a plain connection), ssl (implicit TLS, "
        "usually port 465) or none (only for a relay on this machine).")
    username: str = Field("", description="SMTP login; empty = send without logging in.")
    password_env: str = Field("CSMETRICS_SMTP_PASSWORD",
                              description="Environment variable holding the SMTP password.")
    sender: str = "csmetrics@localhost"
    ca_file: str = Field("", description="CA bundle that verifies the server's certificate "
                         "(e.g. a self-signed one); empty = the system's CAs.")
    default_to: list[str] = Field(default_factory=list,
                                  description="Addresses that also get every notice.")
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_seconds: float = Field(2, ge=0)
    timeout_seconds: float = Field(10, gt=0)


class WebhookSection(_Section):
    """One webhook: a JSON POST signed with HMAC-SHA256 of a secret from the environment."""

    url: str
    secret_env: str = Field("CSMETRICS_WEBHOOK_SECRET",
                            description="Environment variable holding the signing secret.")
    events: list[str] = Field(default_factory=list,
                              description="Events to send (e.g. task.created); empty = all.")
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_seconds: float = Field(2, ge=0)
    timeout_seconds: float = Field(10, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value


class NotifySection(_Section):
    """Where notices (new tasks, alerts, scheduled reports) go: e-mail and webhooks."""

    digest: bool = Field(False, description="One message per recipient per run instead of "
                         "one per notice.")
    retry_wait_limit_seconds: float = Field(
        5, ge=0, description="A failed send is retried within the same run when the back-off "
        "wait is at most this long; longer waits are left to the next run.")
    email: EmailSection = EmailSection()
    webhooks: list[WebhookSection] = Field(default_factory=list)


class ScheduleEntry(_Section):
    """A report sent on a cadence by ``csmetrics schedule run``."""

    name: str = Field(min_length=1)
    cadence: Literal["weekly", "monthly", "quarterly"]
    day: int = Field(1, ge=1, le=28, description="weekly: weekday to send (1 = Monday ... "
                     "7 = Sunday); monthly / quarterly: day of the month after the period.")
    to: list[str] = Field(default_factory=list, description="Recipients; empty = only "
                          "notify.email.default_to.")
    segment: str = Field("", description="COLUMN=VALUE, e.g. plan=Pro; empty = everyone.")
    format: Literal["pdf", "html"] = Field(
        "pdf", description="pdf: HTML e-mail with the PDF attached; html: the HTML only.")

    @field_validator("day")
    @classmethod
    def _weekday(cls, value: int, info: Any) -> int:
        if info.data.get("cadence") == "weekly" and value > 7:
            raise ValueError("a weekly schedule's day is a weekday: 1 (Monday) to 7 (Sunday)")
        return value


class AlertsSection(_Section):
    """Where the rules and playbooks are, and when they run."""

    file: str = Field("alerts.toml", description="Team, playbooks and rules, relative to the "
                      "workspace; when it does not exist the documented default rules apply.")
    evaluate_on_refresh: bool = Field(
        True, description="'csmetrics refresh' evaluates the rules and opens tasks.")


APP_URL_FORMS = ("'' (the warehouse's own DuckDB database)",
                 "'postgresql://user:password@host:5432/database'",
                 "'duckdb:///app.duckdb' (a DuckDB file of its own, relative to the workspace)")


class AppSection(_Section):
    """Where csmetrics keeps its app state: users, API tokens, dashboard sessions, tasks,
    notifications, report schedule runs and alert rule state (``csmetrics.store.appstore``).
    """

    url: str = Field(
        "", description="Empty: the warehouse's own DuckDB database (one file, as before); "
        "'postgresql://user:password@host:port/database' (or 'postgres://'): a PostgreSQL "
        "database several servers share; 'duckdb:///app.duckdb': a DuckDB file of its own "
        "(relative to the workspace), for a Spark warehouse on one machine.")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if value and not (sep and rest.strip("/") and scheme in (
                "postgresql", "postgres", "duckdb")):
            raise ValueError("the app store is one of " + ", ".join(APP_URL_FORMS))
        return value


class ServerSection(_Section):
    """The API and dashboard (``csmetrics serve``)."""

    max_upload_mb: int = Field(
        200, ge=1, description="Largest file the API and the dashboard accept for loading, in "
        "MB (larger files: 'csmetrics ingest'); a bigger upload is refused (413) unread.")


class DashboardSection(_Section):
    """How the dashboard judges what it shows."""

    min_sample: int = Field(
        30, ge=1, description="Fewest observations (n) behind a rate, score or ratio before "
        "a tile colours its change good or bad; below it the tile says 'too few to judge'. "
        "Sums (MRR, counts) are exact at any n and are always judged.")


class Settings(_Section):
    """Everything ``csmetrics.toml`` can say. Unknown keys are errors, so typos don't pass."""

    workspace: WorkspaceSection = WorkspaceSection()
    engine: EngineSection = EngineSection()
    app: AppSection = AppSection()
    fiscal: FiscalSection = FiscalSection()
    ingest: IngestSection = IngestSection()
    policy: PolicySection = PolicySection()
    metrics: MetricsSection = MetricsSection()
    health: HealthSection = HealthSection()
    predict: PredictSection = PredictSection()
    voice: VoiceSection = VoiceSection()
    alerts: AlertsSection = AlertsSection()
    notify: NotifySection = NotifySection()
    server: ServerSection = ServerSection()
    dashboard: DashboardSection = DashboardSection()
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    targets: dict[str, float | dict[str, float]] = Field(
        default_factory=dict,
        description="Targets per metric: a number, or a table of 'default' and "
        "'column=value' segments.",
    )

    @field_validator("schedule")
    @classmethod
    def _unique_schedule_names(cls, value: list[ScheduleEntry]) -> list[ScheduleEntry]:
        names = [entry.name for entry in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"schedule names must be unique; {', '.join(twice)} is used twice")
        return value

    @classmethod
    def from_toml(cls, path: Path) -> Settings:
        """Read and validate a config file; errors name the file, the key and the fix."""
        try:
            data = tomllib.loads(read_config_text(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = CONFIG_FILE) -> Settings:
        """Validate already-parsed settings."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None


def read_config_text(path: Path) -> str:
    """A configuration file's text; a file that is not UTF-8 is an error saying so."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8.") from None


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
currency = "{currency}"          # reporting currency (ISO 4217); others need exchange_rates
timezone = "{timezone}"           # IANA zone: defines calendar days, weeks and months

[engine]
url = "{engine_url}"   # relative DuckDB paths are relative to this folder
lake = "{lake}"                            # Spark only: the Parquet folder csmetrics keeps
memory_limit = ""                    # e.g. "4GB"; empty = DuckDB's default (80 % of RAM)
temp_directory = ""                  # where large queries spill; empty = DuckDB's default
threads = 0                          # 0 = all cores
# Spark instead of DuckDB (see README, "Running on your warehouse"):
# url = "pyspark://local[2]"         # or "pyspark://spark://host:7077?database=cs"
# lake = "lake"                      # the tables as Parquet csmetrics loads and Spark reads;
#                                    # empty: query-only, your pipeline fills Spark's tables
# [engine.spark]                     # Spark configuration keys for the session csmetrics builds
# "spark.driver.memory" = "4g"

[app]
# Users, API tokens, sessions, tasks and notifications: empty = in the warehouse's DuckDB file.
# url = "postgresql://csmetrics:secret@db.example.com:5432/csmetrics"   # shared by servers

[fiscal]
year_start_month = 1                 # 1 = January; 4 = a fiscal year starting in April
week_start = "monday"                # or "sunday"

[ingest]
# Dates (and times) in loaded files outside this window are refused as implausible; both
# must be within 1900-01-01..2100-12-31.
# earliest_date = 1900-01-01
# latest_date = 2100-12-31

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
lifespan_source = "observed"         # or "survival": method 1 uses the Kaplan-Meier lifespan
conversion_denominator = "leads"     # or "visitors": conversions over the traffic table's visitors
renewal_grace_days = 30
retention_cost_per = "retained"      # or "all"
default_segments = ["plan", "region", "size_tier", "owner", "acquisition_channel"]

[health]
scorecard = "health.toml"            # components, weights, bands; no file = the default scorecard
snapshot_on_refresh = true           # 'csmetrics refresh' stores health scores as of the data end

[predict]
churn_horizon_days = 90              # churned = pays nothing this many days after the cutoff
churn_cutoffs = 12                   # monthly cutoffs the churn model learns from
seed = 0                             # same seed, same churn model
clv_horizon_months = 12              # months of future purchases counted in CLV
clv_discount_rate = 0.1              # annual discount rate of CLV
clv_time_unit = "week"               # BG/NBD time unit: day, week or month

[voice]
seed = 0                             # same texts and seed, same themes
theme_sources = ["survey_responses", "feedback"]   # add "activities" for CSM notes
anchor_strength = 0.3                # how strongly themes keep to their seed words
extra_themes = 0                     # unnamed themes besides the seeded ones
request_threshold = 0.15             # similarity at which two feature requests are one
# Your own themes replace the built-in ones (name = seed words):
# [voice.themes]
# onboarding = ["onboarding", "setup", "kickoff", "training"]
# pricing = ["price", "pricing", "invoice", "discount"]

[notify]
# Notices (new tasks, alerts, scheduled reports) go by e-mail and to webhooks. Secrets are read
# from environment variables only. 'csmetrics notify test' sends one through every channel.
digest = false                       # true: one message per recipient per run, not one per notice
retry_wait_limit_seconds = 5         # retry within the run when the back-off wait is this short

[notify.email]
enabled = false
host = "localhost"
port = 587
security = "starttls"                # "starttls", "ssl" (implicit TLS) or "none"
username = ""                        # empty = send without logging in
password_env = "CSMETRICS_SMTP_PASSWORD"   # the password is read from this environment variable
sender = "csmetrics@localhost"
ca_file = ""                         # a CA bundle to verify the server (e.g. a self-signed cert)
default_to = []                      # these addresses also get every notice
max_attempts = 5                     # attempt n waits backoff_seconds x 2^(n-1) before the next
backoff_seconds = 2
timeout_seconds = 10

# [[notify.webhooks]]
# url = "https://example.com/hooks/csmetrics"
# secret_env = "CSMETRICS_WEBHOOK_SECRET"   # the HMAC key; read from this environment variable
#   (header X-Csmetrics-Signature: sha256=<hex of HMAC-SHA256 over "<timestamp>.<body>">)
# events = []                        # empty = every event; e.g. ["task.created", "report.weekly"]
# max_attempts = 5
# backoff_seconds = 2
# timeout_seconds = 10

# Executive reports sent by 'csmetrics schedule run' (run it hourly from cron, or serve with
# --scheduler). Each report covers the last complete week / month / quarter and is sent once.
# [[schedule]]
# name = "weekly-operational"
# cadence = "weekly"                 # weekly operational review
# day = 1                            # weekly: 1 = Monday ... 7 = Sunday
# to = ["cs-team@example.com"]
# segment = ""                       # e.g. "plan=Pro"
# format = "pdf"                     # "pdf" (HTML mail + PDF attached) or "html"
#
# [[schedule]]
# name = "monthly-tactical"
# cadence = "monthly"                # monthly tactical review
# day = 2                            # day of the month after the period
# to = ["head-of-cs@example.com"]
#
# [[schedule]]
# name = "quarterly-strategic"
# cadence = "quarterly"              # quarterly strategic review
# day = 5
# to = ["leadership@example.com"]

[server]
max_upload_mb = 200                  # largest upload the API and dashboard accept (413 beyond)

[dashboard]
min_sample = 30                      # a tile's rate/score/ratio with n below this is not judged

[alerts]
file = "alerts.toml"                 # team, playbooks and rules; no file = the default rules
evaluate_on_refresh = true           # 'csmetrics refresh' runs the rules and opens tasks

[targets]
# nrr = 1.05
# customer_churn_rate = 0.02
# nps = {{ default = 40, "region=EMEA" = 30 }}
"""
