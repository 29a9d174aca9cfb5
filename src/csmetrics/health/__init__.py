"""Health scores: a configurable scorecard, scores as of any date, explanations, history and
a backtest against churn."""

from csmetrics.health.score import HealthScores, score_accounts
from csmetrics.health.scorecard import Scorecard, default_scorecard, load_scorecard

__all__ = ["HealthScores", "Scorecard", "default_scorecard", "load_scorecard", "score_accounts"]
