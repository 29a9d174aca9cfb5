"""Policy choices and the presets that reproduce known tools' conventions.

Tools disagree on the same KPI because of a handful of choices. Each is a setting:

``churn_recognition``
    ``end_of_service`` (default): a subscription stops counting on its ``end_date``, the first
    day without service, so an annual plan cancelled in March churns at its term's end.
    ``cancellation``: it stops counting on ``canceled_at`` when that is earlier.
``reactivation_min_gap_days``
    0 (default): any former payer who comes back is a reactivation. N > 0: a customer whose
    new subscription starts less than N days after the previous one ended is treated as never
    having left (no churn, no reactivation) -- e.g. a card that failed and was fixed.
``discounts``
    ``deduct`` (default): MRR is what the customer pays (``amount - discount``). ``ignore``:
    MRR at list price.
``delinquent_churn_days``
    0 (default): payment problems never end a subscription by themselves. N > 0: a subscription
    ``past_due_since`` more than N days stops counting N days after it fell due.
``free_plans_are_customers``
    False (default): only paying customers (MRR > 0) count as customers in churn, retention and
    ARPA. True: a customer with any active subscription counts, even at $0.
``currency_rate_at``
    ``period_end`` (default): foreign amounts are converted at the rate in force on the day the
    MRR is measured. ``service_start``: at the rate of the subscription's start date, so MRR does
    not move with exchange rates.
``within_period_churn``
    ``separate`` (default): a customer who joins and leaves inside one period is not in the
    churn rate (neither at the start nor at the end); it is reported beside it as
    ``churned_within_period``. ``include``: it is added to the churned count too.

Presets (set ``[policy] preset``):

``default``
    The values above: MRR as paid, churn at end of service, paying customers only.
``chartmogul``
    ChartMogul's documented defaults: discounts deducted, churn at the end of the paid
    service, only paying customers are customers, foreign invoices converted at the
    rate of the invoice (service start), and customers who join and churn in the same
    month counted in churn.
``stripe``
    Stripe Billing analytics: discounts deducted, a subscription counts until it is
    canceled (at cancellation), only paying subscribers count, amounts converted at the
    day's rate, past-due subscriptions churned after Stripe's default 30 days of retries.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from csmetrics.config import PolicySection


@dataclass(frozen=True)
class Policy:
    """The policy in force for a computation (preset + overrides, resolved)."""

    preset: str = "default"
    churn_recognition: Literal["end_of_service", "cancellation"] = "end_of_service"
    reactivation_min_gap_days: int = 0
    discounts: Literal["deduct", "ignore"] = "deduct"
    delinquent_churn_days: int = 0
    free_plans_are_customers: bool = False
    currency_rate_at: Literal["period_end", "service_start"] = "period_end"
    within_period_churn: Literal["separate", "include"] = "separate"

    @classmethod
    def from_settings(cls, section: PolicySection) -> Policy:
        """The preset named in the config, with every key the config sets on top."""
        policy = PRESETS[section.preset]
        overrides = {
            f.name: getattr(section, f.name)
            for f in fields(cls)
            if f.name != "preset" and getattr(section, f.name) is not None
        }
        return replace(policy, **overrides)

    def describe(self) -> list[tuple[str, str]]:
        """(setting, value) pairs for display."""
        return [(f.name, str(getattr(self, f.name))) for f in fields(self)]


PRESETS: dict[str, Policy] = {
    "default": Policy(),
    "chartmogul": Policy(
        preset="chartmogul",
        currency_rate_at="service_start",
        within_period_churn="include",
    ),
    "stripe": Policy(
        preset="stripe",
        churn_recognition="cancellation",
        delinquent_churn_days=30,
        within_period_churn="include",
    ),
}
