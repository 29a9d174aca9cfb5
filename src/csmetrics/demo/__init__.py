"""The demo company: a seeded synthetic SaaS business in the canonical tables."""

from csmetrics.demo.generator import LOAD_ORDER, write_company

__all__ = ["LOAD_ORDER", "write_company"]
