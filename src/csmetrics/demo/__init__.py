"""The demo company: a seeded synthetic SaaS business in the canonical tables."""

from csmetrics.demo.as_of import files_by_table, table_of, write_as_of
from csmetrics.demo.generator import LOAD_ORDER, write_company

__all__ = ["LOAD_ORDER", "files_by_table", "table_of", "write_as_of", "write_company"]
