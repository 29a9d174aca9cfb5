"""Voice of the customer: how negative customers' own words are.

Reads the sentiment that ``csmetrics.enrich.sentiment`` stored beside every survey comment,
CSM note and feedback text (``_text_sentiment``). Before texts are scored (no
``csmetrics voice sentiment`` or ``refresh`` yet) the metric has no rows, not an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmetrics.enrich.sentiment import sentiment_table
from csmetrics.metrics.context import MetricContext, is_customer_level
from csmetrics.metrics.definition import Direction, Section, Unit, metric
from csmetrics.metrics.result import finish, ratio, wilson_interval

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["scored_texts"]


def scored_texts(ctx: MetricContext) -> ir.Table:
    """The scored texts in scope: written by ``as_of``, of the customer and filters asked
    for (a filter on a column of the texts themselves, ``source`` or ``kind``, applies too)."""
    t = sentiment_table(ctx.con, ctx.as_of)
    if ctx.customer is not None:
        t = t.filter(t.customer_id == ctx.customer)
    for column, value in ctx.where:
        if column in t.columns:
            t = t.filter(t[column].cast("string") == value)
        elif is_customer_level(column):
            t = t.semi_join(ctx.customers().select("customer_id"), "customer_id")
    return t


@metric("negative_comment_share", title="Share of negative comments",
        section=Section.SATISFACTION, unit=Unit.RATE, direction=Direction.DOWN,
        formula="texts scored negative (VADER compound <= -0.05) / texts scored, over survey "
        "comments, CSM notes and feedback written in the period",
        tables=("survey_responses", "activities", "feedback"),
        edge_cases="Only non-empty texts count. Texts are scored by 'csmetrics voice "
        "sentiment' or 'csmetrics refresh'; before that there are no rows. Segment by source "
        "(survey_responses, activities, feedback) or kind (nps, call, feature_request...) "
        "besides the customer attributes.",
        extra_columns=("negative",), empty_reason="no scored texts in the period")
def negative_comment_share(ctx: MetricContext) -> ir.Table:
    """Share of negative comments: of the free texts written in the period (survey comments,
    CSM activity notes, feedback), the fraction whose sentiment is negative by VADER
    (compound score <= -0.05, see ``csmetrics.enrich.sentiment``). A fraction rendered as a
    percentage; lower is better. n is the number of texts, the interval the 95 % Wilson score
    interval, ``negative`` the negative texts."""
    t = ctx.segment(ctx.in_period(scored_texts(ctx), "written_at"))
    g = t.group_by(ctx.group_keys).aggregate(n=t.count(), neg=(t.label == "negative").sum())
    low, high = wilson_interval(g.neg, g.n)
    return finish(ctx, g, value=ratio(g.neg, g.n), n=g.n, ci_low=low, ci_high=high,
                  negative=g.neg)
