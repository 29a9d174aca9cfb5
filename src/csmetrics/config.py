"""Workspace settings: the typed content of ``csmetrics.toml``, with errors that name the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from csmetrics.errors import ConfigError

CONFIG_FILE = "csmetrics.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSection(_Section):
    """Who the workspace is for and how money and time are read."""

    name: str = "My company"
    currency: str = Field("USD", description="Reporting currency, ISO 4217.")
    timezone: str = Field("UTC", description="IANA time zone that defines calendar dates.")

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"must be a three-letter ISO 4217 code such as USD or EUR, not {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; use a name like 'UTC' or 'Europe/Berlin'"
            ) from None
        return value


class EngineSection(_Section):
    """Where the warehouse lives and how much of the machine it may use."""

    url: str = Field(
        "duckdb:///csmetrics.duckdb",
        description="Connection URL; a relative DuckDB path is relative to the workspace.",
    )
    memory_limit: str = Field("", description="DuckDB memory limit such as '4GB'; empty = default.")
    temp_directory: str = Field("", description="Where DuckDB spills to disk; empty = default.")
    threads: int = Field(0, ge=0, description="Worker threads; 0 = all cores.")


class FiscalSection(_Section):
    """Calendar conventions for periods."""

    year_start_month: int = Field(1, ge=1, le=12, description="First month of the fiscal year.")
    week_start: Literal["monday", "sunday"] = "monday"


class Settings(_Section):
    """Everything ``csmetrics.toml`` can say. Unknown keys are errors, so typos don't pass."""

    workspace: WorkspaceSection = WorkspaceSection()
    engine: EngineSection = EngineSection()
    fiscal: FiscalSection = FiscalSection()

    @classmethod
    def from_toml(cls, path: Path) -> Settings:
        """Read and validate a config file; errors name the file, the key and the fix."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8.") from None
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = CONFIG_FILE) -> Settings:
        """Validate already-parsed settings."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, naming the dotted key as the user wrote it and what to do."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the configuration:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key; remove it or check its spelling.")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  - {key} = {error.get('input')!r}: {message}.")
    return "\n".join(lines)


DEFAULT_CONFIG = """\
# csmetrics workspace configuration. Every key is optional; the values below are the defaults.

[workspace]
name = "{name}"
currency = "{currency}"          # reporting currency (ISO 4217); other currencies need exchange_rates
timezone = "{timezone}"           # IANA zone: defines calendar days, weeks and months

[engine]
url = "duckdb:///csmetrics.duckdb"   # relative DuckDB paths are relative to this folder
memory_limit = ""                    # e.g. "4GB"; empty = DuckDB's default (80 % of RAM)
temp_directory = ""                  # where large queries spill; empty = DuckDB's default
threads = 0                          # 0 = all cores

[fiscal]
year_start_month = 1                 # 1 = January; 4 = a fiscal year starting in April
week_start = "monday"                # or "sunday"
"""
