"""Mapping files: how a user's column names and value spellings translate to the canonical ones.

A mapping is a small TOML file; every section is optional::

    [columns]                      # their column -> our column
    "Customer ID" = "customer_id"
    "Plan Name" = "plan"

    [values.billing_interval]      # their value -> our value, per canonical column
    annual = "year"                # matched ignoring case: "Annual" and "ANNUAL" too
    monthly = "month"

    [formats]                      # strptime formats when dates are not ISO 8601
    date = "%d/%m/%Y"              # every date column
    timestamp = "%d/%m/%Y %H:%M"   # every timestamp column

    [formats.columns]              # one column of THE FILE (its header), before the above
    "Created (UTC)" = "%m/%d/%Y %H:%M"

    [constants]                    # a canonical column set to one value on every row
    survey = "nps"

    [derived.first_response_at]    # a timestamp = another canonical column + minutes
    after = "opened_at"            # from a column of the file
    minutes = "First reply time in minutes"

    [multiply]                     # a number column times another (empty = 1): Stripe's
    amount = "quantity"            # Amount is one unit's price, csmetrics' amount all units'

Values of columns with allowed values (``billing_interval``, ``priority``, ``survey``...) are
matched ignoring case, before and after translation: ``Active`` is ``active``. Without a
mapping, headers are still matched leniently: ``Customer ID``, ``customer-id`` and
``CUSTOMER_ID`` all mean ``customer_id``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from csmetrics.config import describe_validation_error
from csmetrics.errors import ConfigError, closest
from csmetrics.schema import DType, Table


class Formats(BaseModel):
    """strptime formats for columns whose text is not ISO 8601."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: str | None = None
    timestamp: str | None = None
    #: per column of the file (its header as written): wins over ``date`` and ``timestamp``
    columns: dict[str, str] = {}


class Derived(BaseModel):
    """A timestamp computed as another canonical timestamp plus a file column of minutes
    (Zendesk's "First reply time in minutes")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    after: str
    minutes: str


class Mapping(BaseModel):
    """Column renames, value translations, date formats, constants and derived columns for
    one table's files."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    formats: Formats = Formats()
    constants: dict[str, str | int | float | bool] = {}
    derived: dict[str, Derived] = {}
    #: canonical number column -> the canonical number column it is multiplied by
    multiply: dict[str, str] = {}
    #: Where the mapping came from (its file), for errors.
    _source: str = PrivateAttr("mapping")

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
            mapping = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, str(path))) from None
        mapping._source = f"mapping {path}"
        return mapping

    def check_against(self, table: Table, source: str | None = None) -> None:
        """Refuse targets that are not columns of ``table``, naming the closest one (and the
        mapping file, or ``source``)."""
        source = source or self._source
        names = table.column_names
        for theirs, ours in self.columns.items():
            if ours not in names:
                raise ConfigError(
                    f"{source}: columns.{theirs!r} maps to {ours!r}, which is not a column of "
                    f"{table.name!r}.{closest(ours, names)}"
                )
        for ours, translations in self.values.items():
            if ours not in names:
                raise ConfigError(
                    f"{source}: [values.{ours}] names no column of {table.name!r}."
                    f"{closest(ours, names)}"
                )
            seen: dict[str, str] = {}
            for theirs, value in translations.items():
                if seen.get(theirs.lower(), value) != value:
                    raise ConfigError(
                        f"{source}: [values.{ours}] translates {theirs!r} twice, to "
                        f"{seen[theirs.lower()]!r} and {value!r} (values are matched ignoring "
                        "case); keep one."
                    )
                seen[theirs.lower()] = value
        mapped = set(self.columns.values())
        for section, targets in (("constants", self.constants), ("derived", self.derived)):
            for ours in targets:
                if ours not in names:
                    raise ConfigError(f"{source}: [{section}] {ours!r} is not a column of "
                                      f"{table.name!r}.{closest(ours, names)}")
                if ours in mapped:
                    raise ConfigError(f"{source}: {ours!r} is both in [columns] and in "
                                      f"[{section}]; keep one.")
        numbers = [c.name for c in table.columns
                   if c.dtype in (DType.MONEY, DType.NUMBER, DType.INTEGER)]
        for ours, by in self.multiply.items():
            if ours not in numbers or by not in numbers or ours == by:
                raise ConfigError(
                    f"{source}: [multiply] {ours} = {by!r} needs two different number columns "
                    f"of {table.name!r}: {', '.join(numbers)}.")
        for ours, spec in self.derived.items():
            if table.column(ours).dtype is not DType.TIMESTAMP or spec.after not in names \
                    or table.column(spec.after).dtype is not DType.TIMESTAMP:
                raise ConfigError(
                    f"{source}: [derived.{ours}] must be a timestamp column of {table.name!r} "
                    f"computed from another one (after = {spec.after!r}); timestamp columns: "
                    f"{', '.join(c.name for c in table.columns if c.dtype is DType.TIMESTAMP)}."
                )

    def format_for(self, dtype: DType, header: str | None = None) -> str | None:
        """The strptime format to use for a date or timestamp column (``header``: its name in
        the file), if one is set: the column's own first, then the one for its type."""
        if header is not None and header in self.formats.columns:
            return self.formats.columns[header]
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
    A derived column is carried by its minutes column; constants are not in the file.
    """
    found: dict[str, str] = {}
    for ours, spec in mapping.derived.items():
        if spec.minutes in headers:
            found[ours] = spec.minutes
    for header in headers:  # the mapping's names first: they win over lenient matches
        ours = mapping.columns.get(header)
        if ours is not None and ours not in found:
            found[ours] = header
    taken = set(found.values())
    for header in headers:
        lenient = normalise_header(header)
        if (header not in taken and lenient in table.column_names and lenient not in found
                and lenient not in mapping.constants):
            found[lenient] = header
    return found
