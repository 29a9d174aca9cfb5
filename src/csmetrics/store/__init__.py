"""The warehouse: connection from a URL, canonical tables, materialised results.

``Warehouse`` is imported on first use (PEP 562), so a module of this package that needs
only DuckDB (``accounts``, ``sql``) does not bring in Ibis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csmetrics.store.warehouse import Warehouse


def __getattr__(name: str) -> Any:
    """Import ``Warehouse`` when first asked for."""
    if name != "Warehouse":
        raise AttributeError(f"module 'csmetrics.store' has no attribute {name!r}")
    from csmetrics.store.warehouse import Warehouse

    globals()["Warehouse"] = Warehouse
    return Warehouse


__all__ = ["Warehouse"]
