"""The warehouse: connection from a URL, canonical tables, materialised results."""

from csmetrics.store.warehouse import Warehouse

__all__ = ["Warehouse"]
