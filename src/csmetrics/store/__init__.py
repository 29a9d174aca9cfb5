"""The warehouse: connection from a URL, canonical tables, materialised results.

``Warehouse`` is imported on first use (PEP 562), so a module of this package that needs
only DuckDB (``accounts``, ``sql``) does not bring in Ibis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_names

if TYPE_CHECKING:
    from csmetrics.store.warehouse import Warehouse


__getattr__, __dir__ = lazy_names(__name__, {"Warehouse": "csmetrics.store.warehouse"})

__all__ = ["Warehouse"]
