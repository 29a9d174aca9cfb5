"""The errors csmetrics raises, as one tree.

::

    CsMetricsError                  root: catch this to catch everything of ours
    ├── UserInputError(ValueError)  something the user fixes: a file, a flag, a config value
    │   ├── ConfigError             csmetrics.toml (or another config file) is wrong
    │   ├── WorkspaceNotFoundError  no csmetrics.toml in this folder or its parents
    │   ├── UnknownNameError        a table, column or metric name that does not exist
    │   ├── FieldError              a flag's, query parameter's or form field's value; names it
    │   └── ValidationError         a batch of rows failed validation; carries every issue
    └── InternalError               a bug in csmetrics: please report it

    CsMetricsWarning(UserWarning)   valid but suspicious data (small sample, no variance)

The CLI maps ``UserInputError`` to exit code 2 and ``InternalError`` to 3, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "CsMetricsError",
    "CsMetricsWarning",
    "FieldError",
    "InternalError",
    "Issue",
    "UnknownNameError",
    "UserInputError",
    "ValidationError",
    "WorkspaceNotFoundError",
]


class CsMetricsError(Exception):
    """Root of every error csmetrics raises on purpose."""


class UserInputError(CsMetricsError, ValueError):
    """Something the user can fix; the message names the place and the fix."""


class ConfigError(UserInputError):
    """A configuration file has a wrong, missing or unknown key."""


class WorkspaceNotFoundError(UserInputError):
    """No workspace was found where one was expected."""


class UnknownNameError(UserInputError):
    """A name (table, column, metric) that does not exist; the message suggests the closest."""


class FieldError(UserInputError):
    """A value given for one option, query parameter or form field that is not accepted;
    ``field`` names it (the API's error JSON carries it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[FieldError], tuple[str, str]]:
        return type(self), (self.field, str(self))


class InternalError(CsMetricsError):
    """A bug in csmetrics itself."""


class CsMetricsWarning(UserWarning):
    """Valid but suspicious input: a small sample, a constant column, an empty period."""


@dataclass(frozen=True)
class Issue:
    """One problem found in input data: where it is, what was there, what was expected."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str
    #: The first rows holding the same wrong value (``row`` is the first), and how many do.
    rows: tuple[int, ...] = ()
    count: int = 1

    def __str__(self) -> str:
        place = self.file
        if self.row is not None:
            unit = "line" if self.file.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz",
                                                        ".txt", ".jsonl", ".jsonl.gz",
                                                        ".ndjson", ".json", ".json.gz")) else "row"
            if self.count > 1:
                listed = ", ".join(map(str, self.rows or (self.row,)))
                more = self.count - len(self.rows or (self.row,))
                place += f", {unit}s {listed}" + (f" and {more} more" if more else "")
            else:
                place += f", {unit} {self.row}"
        if self.column is not None:
            place += f", column {self.column!r}"
        if self.value is None:
            return f"{place}: {self.expected}"
        return f"{place}: got {self.value!r}, expected {self.expected}"


class ValidationError(UserInputError):
    """A batch failed validation; nothing was loaded.

    ``issues`` holds the first issues found (at most ``shown``), ``total`` counts them all.
    """

    def __init__(self, table: str, issues: Sequence[Issue], total: int, shown: int = 20) -> None:
        self.table = table
        self.issues = list(issues)[:shown]
        self.total = total
        lines = [
            f"{total} problem{'s' if total != 1 else ''} in the batch for table {table!r}; "
            "nothing was loaded."
        ]
        lines += [f"  - {issue}" for issue in self.issues]
        listed = sum(issue.count for issue in self.issues)
        if total > listed:
            lines.append(f"  ... and {total - listed} more")
        super().__init__("\n".join(lines))


def closest(name: str, candidates: Sequence[str]) -> str:
    """A ' Did you mean ...?' hint for a misspelt name, or '' when nothing is close."""
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""
