"""The twelve canonical tables of csmetrics, declared once as data.

Every other part reads this module: the warehouse creates its tables from it, ingest validates
files against it, and ``csmetrics schema`` prints it for users shaping their exports.
Conventions: ``customer_id`` is a string everywhere; times are timestamps in the workspace's
time zone (stored without offset); dates are dates; amounts are decimals in the row's
``currency`` (the workspace currency when empty). Columns a file has beyond these go into the
row's ``attributes`` map and can be used as segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from csmetrics.errors import UnknownNameError, closest

#: The Ibis type of every table's ``attributes`` column (extra columns, text to text).
ATTRIBUTES_IBIS_TYPE = "map<string, string>"


class DType(Enum):
    """Logical column types, each with its DuckDB spelling."""

    STRING = "VARCHAR"
    DATE = "DATE"
    TIMESTAMP = "TIMESTAMP"
    MONEY = "DECIMAL(18,4)"
    INTEGER = "BIGINT"
    NUMBER = "DOUBLE"

    @property
    def sql(self) -> str:
        """The DuckDB type name."""
        return self.value

    @property
    def ibis(self) -> str:
        """The Ibis type name (as Ibis reads the DuckDB column), for other engines."""
        return {
            DType.STRING: "string",
            DType.DATE: "date",
            DType.TIMESTAMP: "timestamp",
            DType.MONEY: "decimal(18, 4)",
            DType.INTEGER: "int64",
            DType.NUMBER: "float64",
        }[self]

    @property
    def label(self) -> str:
        """A word a user understands, with the accepted spelling."""
        return {
            DType.STRING: "text",
            DType.DATE: "date (YYYY-MM-DD)",
            DType.TIMESTAMP: "timestamp (YYYY-MM-DD[ HH:MM:SS][+HH:MM])",
            DType.MONEY: "decimal amount",
            DType.INTEGER: "whole number",
            DType.NUMBER: "number",
        }[self]


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    dtype: DType
    description: str
    required: bool = False
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    references_customer: bool = False


@dataclass(frozen=True)
class Ordering:
    """A rule that ``later`` (when present) is not before ``earlier``."""

    earlier: str
    later: str


@dataclass(frozen=True)
class Table:
    """One canonical table: its columns, natural key and row rules."""

    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    orderings: tuple[Ordering, ...] = field(default=())

    def column(self, name: str) -> Column:
        """The column called ``name``; a clear error when there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise UnknownNameError(
            f"Table {self.name!r} has no column {name!r}.{closest(name, self.column_names)}"
        )

    @property
    def column_names(self) -> list[str]:
        """Column names in declaration order (without ``attributes``)."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of the columns every file must have."""
        return [c.name for c in self.columns if c.required]

    def ibis_types(self) -> dict[str, str]:
        """Column -> Ibis type name, with the ``attributes`` map: the table's schema on any
        engine."""
        return {**{c.name: c.dtype.ibis for c in self.columns},
                "attributes": ATTRIBUTES_IBIS_TYPE}

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this table, with the ``attributes`` map."""
        cols = [f"{c.name} {c.dtype.sql}" for c in self.columns]
        cols.append("attributes MAP(VARCHAR, VARCHAR)")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"


def _col(name: str, dtype: DType, description: str, **kw: object) -> Column:
    return Column(name, dtype, description, **kw)  # type: ignore[arg-type]


# one letter per type keeps the column tables below readable
S, D, T, M, N = DType.STRING, DType.DATE, DType.TIMESTAMP, DType.MONEY, DType.NUMBER
I = DType.INTEGER  # noqa: E741 - read as 'integer' beside S, D, T, M, N
_CUSTOMER = _col(
    "customer_id", S, "The customer (account) this row belongs to.",
    required=True, references_customer=True,
)
_CURRENCY = _col("currency", S, "ISO 4217 code of the amount; empty means the reporting currency.")

BILLING_INTERVALS = ("week", "month", "quarter", "year")
SURVEYS = ("nps", "csat", "ces", "employee_review", "public_review", "check_in")
#: The scale's top score when a survey response does not give ``scale_max``.
DEFAULT_SCALE_MAX = {
    "nps": 10, "csat": 5, "ces": 7, "employee_review": 5, "public_review": 5, "check_in": 10,
}
COST_CATEGORIES = (
    "sales", "marketing", "customer_success", "support", "account_management",
    "retention_discount", "retention_campaign", "loyalty", "cost_of_revenue", "other",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "customers",
            "One row per customer account: who they are and the segments they belong to.",
            ("customer_id",),
            (
                _col("customer_id", S, "Your stable identifier of the account.", required=True),
                _col("name", S, "Account name.", required=True),
                _col("started_at", D, "Date the customer relationship began.", required=True),
                _col("plan", S, "Current plan name (segment)."),
                _col("region", S, "Sales region (segment)."),
                _col("country", S, "Country, ISO code or name (segment)."),
                _col("industry", S, "Industry (segment)."),
                _col("size_tier", S, "Company size tier, e.g. smb / mid_market / enterprise."),
                _col("seats", I, "Licensed seats (for seat utilisation).", minimum=0),
                _col("owner", S, "Customer-success manager who owns the account."),
                _col("acquisition_channel", S, "Channel the customer came from, e.g. referral."),
                _col("referred_by", S, "customer_id of the customer who referred this one.",
                     references_customer=True),
                _CURRENCY,
            ),
        ),
        Table(
            "subscriptions",
            "Recurring revenue: one row per subscription (or per price period of one).",
            ("subscription_id",),
            (
                _col("subscription_id", S, "Identifier of the subscription.", required=True),
                _CUSTOMER,
                _col("plan", S, "Plan name.", required=True),
                _col("amount", M, "Price per billing interval (all units), before normalising.",
                     required=True, minimum=0),
                _col("billing_interval", S, "How often the amount is billed.", required=True,
                     allowed=BILLING_INTERVALS),
                _col("start_date", D, "First day of service.", required=True),
                _col("end_date", D, "First day without service; empty = still active."),
                _col("quantity", I, "Units or seats bought (entitlement).", minimum=0),
                _col("discount", M, "Discount per billing interval, already included in "
                     "amount's price list; deducted from MRR unless the policy says otherwise.",
                     minimum=0),
                _col("canceled_at", D, "Day the customer asked to cancel (may precede end_date)."),
                _col("past_due_since", D, "First day payment was overdue; empty = paid up."),
                _CURRENCY,
            ),
            (Ordering("start_date", "end_date"),),
        ),
        Table(
            "orders",
            "One-time purchases, services and add-ons; never counted as MRR.",
            ("order_id",),
            (
                _col("order_id", S, "Identifier of the order.", required=True),
                _CUSTOMER,
                _col("ordered_at", T, "When the order was placed.", required=True),
                _col("amount", M, "Order amount (positive; a refund is status = refunded).",
                     required=True, minimum=0),
                _col("kind", S, "What was bought.", allowed=("product", "services", "add-on")),
                _col("status", S, "Payment status.", allowed=("paid", "refunded", "failed")),
                _CURRENCY,
            ),
        ),
        Table(
            "tickets",
            "Support tickets.",
            ("ticket_id",),
            (
                _col("ticket_id", S, "Identifier of the ticket.", required=True),
                _CUSTOMER,
                _col("opened_at", T, "When the ticket was opened.", required=True),
                _col("first_response_at", T, "First reply from support."),
                _col("resolved_at", T, "When it was resolved; empty = open."),
                _col("reopened_at", T, "When it was last reopened after looking resolved; "
                     "empty = never."),
                _col("contacts", I, "Contacts needed to resolve it (1 = first contact).",
                     minimum=1),
                _col("agent", S, "Support agent who handled it."),
                _col("channel", S, "email, chat, phone, web..."),
                _col("category", S, "Topic of the ticket."),
                _col("priority", S, "Priority.", allowed=("low", "normal", "high", "urgent")),
            ),
            (Ordering("opened_at", "first_response_at"), Ordering("opened_at", "resolved_at"),
             Ordering("opened_at", "reopened_at")),
        ),
        Table(
            "survey_responses",
            "Answers to NPS, CSAT, CES, employee and public reviews and check-ins.",
            ("response_id",),
            (
                _col("response_id", S, "Identifier of the answer.", required=True),
                _CUSTOMER,
                _col("survey", S, "Which survey.", required=True, allowed=SURVEYS),
                _col("score", N, "The answer, from 0 (or 1) to scale_max.", required=True,
                     minimum=0),
                _col("responded_at", T, "When it was answered.", required=True),
                _col("scale_max", I, "Top of the scale; empty = the survey's usual scale "
                     "(nps 10, csat 5, ces 7, reviews 5, check_in 10).", minimum=1),
                _col("respondent", S, "Who answered (contact or user id)."),
                _col("employee", S, "Employee being rated (employee reviews)."),
                _col("touchpoint", S, "Where the survey was asked (onboarding, support...)."),
                _col("location", S, "Location or region reviewed (public reviews)."),
                _col("comment", S, "Free-text comment."),
            ),
        ),
        Table(
            "usage_events",
            "Product usage: one row per event a user of a customer performed.",
            ("customer_id", "user_id", "occurred_at", "event"),
            (
                _CUSTOMER,
                _col("user_id", S, "The user who acted.", required=True),
                _col("occurred_at", T, "When.", required=True),
                _col("event", S, "Event or feature name.", required=True),
                _col("quantity", N, "Units consumed (default 1).", minimum=0),
                _col("duration_s", N, "Seconds spent.", minimum=0),
            ),
        ),
        Table(
            "activities",
            "What the customer-success team did: calls, meetings, emails, check-ins, QBRs.",
            ("activity_id",),
            (
                _col("activity_id", S, "Identifier of the activity.", required=True),
                _CUSTOMER,
                _col("occurred_at", T, "When.", required=True),
                _col("kind", S, "Kind of touch.", required=True,
                     allowed=("call", "meeting", "email", "check_in", "qbr", "note")),
                _col("employee", S, "Who from your team."),
                _col("sentiment", S, "How it went.", allowed=("positive", "neutral", "negative")),
                _col("notes", S, "Free-text notes."),
            ),
        ),
        Table(
            "feedback",
            "Feature requests, ideas, complaints and praise in customers' words.",
            ("feedback_id",),
            (
                _col("feedback_id", S, "Identifier.", required=True),
                _CUSTOMER,
                _col("submitted_at", T, "When.", required=True),
                _col("kind", S, "Kind of feedback.", required=True,
                     allowed=("feature_request", "idea", "complaint", "praise")),
                _col("text", S, "What the customer said.", required=True),
                _col("status", S, "Where it stands.",
                     allowed=("open", "planned", "in_progress", "shipped", "declined")),
                _col("source", S, "Where it came from (call, email, portal...)."),
            ),
        ),
        Table(
            "leads",
            "Prospects, by channel, and whether they converted.",
            ("lead_id",),
            (
                _col("lead_id", S, "Identifier.", required=True),
                _col("created_at", T, "When the lead arrived.", required=True),
                _col("channel", S, "Acquisition channel.", required=True),
                _col("converted_at", T, "When it became a customer; empty = not (yet)."),
                _col("customer_id", S, "The customer it became.", references_customer=True),
                _col("referred_by", S, "customer_id of the referrer.", references_customer=True),
            ),
            (Ordering("created_at", "converted_at"),),
        ),
        Table(
            "traffic",
            "Visitors per day and channel (the denominator of conversion rates).",
            ("date", "channel"),
            (
                _col("date", D, "Day.", required=True),
                _col("channel", S, "Acquisition channel.", required=True),
                _col("visitors", I, "Visitors that day.", required=True, minimum=0),
            ),
        ),
        Table(
            "costs",
            "Spend per period and category: sales, marketing, retention...",
            ("period_start", "category", "channel"),
            (
                _col("period_start", D, "First day the cost covers.", required=True),
                _col("period_end", D, "Last day the cost covers (inclusive).", required=True),
                _col("category", S, "What the money went to.", required=True,
                     allowed=COST_CATEGORIES),
                _col("amount", M, "Amount spent.", required=True, minimum=0),
                _col("channel", S, "Acquisition channel, for CAC per channel; empty = all.",),
                _CURRENCY,
            ),
            (Ordering("period_start", "period_end"),),
        ),
        Table(
            "exchange_rates",
            "Rates that convert other currencies into the reporting currency.",
            ("date", "currency"),
            (
                _col("date", D, "Day the rate applies from.", required=True),
                _col("currency", S, "ISO 4217 code.", required=True),
                _col("rate_to_reporting", N, "1 unit of currency = this many reporting units.",
                     required=True, minimum=0),
            ),
        ),
    ]
}


def get_table(name: str) -> Table:
    """The canonical table called ``name``; a clear error that suggests the closest name."""
    try:
        return TABLES[name]
    except KeyError:
        raise UnknownNameError(
            f"There is no table {name!r}.{closest(name, list(TABLES))} "
            f"Tables: {', '.join(TABLES)}."
        ) from None
