"""Mapping files: how a user's column names and value spellings translate to the canonical ones.

A mapping is a small TOML file::

    [columns]                      # their column -> our column
    "Customer ID" = "customer_id"
    "Plan Name" = "plan"

    [values.billing_interval]      # their value -> our value, per canonical column
    annual = "year"
    monthly = "month"

    [formats]                      # strptime formats when dates are not ISO 8601
    date = "%d/%m/%Y"
    timestamp = "%d/%m/%Y %H:%M"

Without a mapping, headers are still matched leniently: ``Customer ID``, ``customer-id`` and
``CUSTOMER_ID`` all mean ``customer_id``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from csmetrics.config import describe_validation_error
from csmetrics.errors import ConfigError, closest
from csmetrics.schema import DType, Table


class Formats(BaseModel):
    """strptime formats for columns whose text is not ISO 8601."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: str | None = None
    timestamp: str | None = None


class Mapping(BaseModel):
    """Column renames, value translations and date formats for one table's files."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    formats: Formats = Formats()

    @classmethod
    def from_toml(cls, path: Path) -> Mapping:
        """Read a mapping file; errors name the file and the key."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Mapping file {path} does not exist.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, str(path))) from None

    def check_against(self, table: Table, source: str = "mapping") -> None:
        """Refuse targets that are not columns of ``table``, naming the closest one."""
        names = table.column_names
        for theirs, ours in self.columns.items():
            if ours not in names:
                raise ConfigError(
                    f"{source}: columns.{theirs!r} maps to {ours!r}, which is not a column of "
                    f"{table.name!r}.{closest(ours, names)}"
                )
        for ours in self.values:
            if ours not in names:
                raise ConfigError(
                    f"{source}: [values.{ours}] names no column of {table.name!r}."
                    f"{closest(ours, names)}"
                )

    def format_for(self, dtype: DType) -> str | None:
        """The strptime format to use for a date or timestamp column, if one is set."""
        if dtype is DType.DATE:
            return self.formats.date
        if dtype is DType.TIMESTAMP:
            return self.formats.timestamp
        return None


def normalise_header(name: str) -> str:
    """``'Customer ID '`` -> ``'customer_id'``: the lenient form used to match headers."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def resolve_columns(headers: list[str], table: Table, mapping: Mapping) -> dict[str, str]:
    """Map each canonical column found in a file to the file's header that carries it.

    The mapping wins; otherwise a header whose lenient form equals a canonical name is used.
    """
    found: dict[str, str] = {}
    for header in headers:
        ours = mapping.columns.get(header)
        if ours is None:
            lenient = normalise_header(header)
            ours = lenient if lenient in table.column_names else None
        if ours is not None and ours not in found:
            found[ours] = header
    return found
