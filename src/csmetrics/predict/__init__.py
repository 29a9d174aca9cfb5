"""Predictions: churn risk (observations, features, churn), probabilistic CLV (clv) and
customer-lifetime survival curves (survival); results stored by ``results`` for the dashboard.

The workspace calls these through ``Workspace.churn_*``, ``clv_fit`` and ``survival``.
"""
