"""The canonical tables: one declaration used for DDL, validation and documentation."""

from csmetrics.schema.tables import TABLES, Column, DType, Table, get_table

__all__ = ["TABLES", "Column", "DType", "Table", "get_table"]
