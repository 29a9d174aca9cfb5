"""Modules imported on first use, so that importing csmetrics stays cheap.

Ibis, pandas and DuckDB take most of a second to import. The metric modules use Ibis only
inside the functions that build expressions, so they hold a stand-in that imports the real
module on the first attribute read::

    from csmetrics._lazy import lazy_module

    if TYPE_CHECKING:
        import ibis
    else:
        ibis = lazy_module("ibis")

``csmetrics metrics list`` then reads the metric registry without importing Ibis; the first
``ibis.literal(...)`` of a query pays for the import. Only for modules used through their
attributes (``ibis.literal``, ``ibis._``): a name imported with ``from x import y`` is read at
import time, which defeats the point.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any


class LazyModule(types.ModuleType):
    """Stands in for module ``name`` until an attribute is read, then forwards to it."""

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), attribute)
        setattr(self, attribute, value)  # the next read skips this method
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_module(name: str) -> Any:
    """A stand-in for the module ``name`` that imports it on first attribute access."""
    return LazyModule(name)


def lazy_names(package: str, names: dict[str, str]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) that import each of ``names``
    (public name -> the module defining it) when first asked for, and keep it::

        __getattr__, __dir__ = lazy_names(__name__, {"Workspace": "csmetrics.workspace"})
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
