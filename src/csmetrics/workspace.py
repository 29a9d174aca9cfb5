"""The workspace: a folder with ``csmetrics.toml`` and its warehouse; the facade every
interface (CLI, API, dashboard) calls."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from csmetrics.config import CONFIG_FILE, DEFAULT_CONFIG, Settings
from csmetrics.errors import UserInputError, WorkspaceNotFoundError
from csmetrics.ingest import Batch, IngestResult, Mapping, ingest_files, list_batches
from csmetrics.ingest.load import Step
from csmetrics.metrics import MetricRequest, compute
from csmetrics.metrics.cohorts import cohort_context, cohort_table
from csmetrics.metrics.headline import Kpi, headline
from csmetrics.metrics.refresh import DEFAULT_GRAINS, compute_all
from csmetrics.schema import TABLES
from csmetrics.store import Warehouse
from csmetrics.store.materialize import read_metric_values, replace_metric_values
from csmetrics.store.warehouse import duckdb_path

ENV_VAR = "CSMETRICS_WORKSPACE"


class Workspace:
    """One company's settings and warehouse. Open it with ``Workspace.find`` or ``init``."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self._warehouse: Warehouse | None = None

    # -- finding and creating -------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        *,
        name: str = "My company",
        currency: str = "USD",
        timezone: str = "UTC",
    ) -> Workspace:
        """Create a workspace in ``directory``: a commented config and a warehouse with every
        canonical table. Refuses to overwrite an existing config."""
        directory = directory.resolve()
        config = directory / CONFIG_FILE
        if config.exists():
            raise UserInputError(
                f"{config} already exists; this folder is a workspace. Use it as it is, or "
                "choose another folder."
            )
        text = DEFAULT_CONFIG.format(name=name.replace('"', "'"), currency=currency,
                                     timezone=timezone)
        settings = Settings.from_mapping(tomllib.loads(text), source=str(config))
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(text, encoding="utf-8")
        workspace = cls(directory, settings)
        workspace.warehouse  # creates the database file and its tables
        return workspace

    @classmethod
    def load(cls, root: Path) -> Workspace:
        """The workspace whose ``csmetrics.toml`` is in ``root``."""
        config = root / CONFIG_FILE
        if not config.is_file():
            raise WorkspaceNotFoundError(
                f"{root} is not a workspace (no {CONFIG_FILE}); create one with "
                f"'csmetrics init {root}'."
            )
        return cls(root.resolve(), Settings.from_toml(config))

    @classmethod
    def find(cls, explicit: Path | None = None, start: Path | None = None) -> Workspace:
        """The workspace named by ``explicit``, ``$CSMETRICS_WORKSPACE``, or the nearest folder
        from ``start`` (default: the current one) upwards that has a ``csmetrics.toml``."""
        if explicit is not None:
            return cls.load(explicit)
        if os.environ.get(ENV_VAR):
            return cls.load(Path(os.environ[ENV_VAR]))
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file():
                return cls.load(folder)
        raise WorkspaceNotFoundError(
            f"No {CONFIG_FILE} in {here} or any folder above it. Run 'csmetrics init' here, "
            "or pass --workspace DIR."
        )

    # -- the warehouse -------------------------------------------------------------------

    @property
    def warehouse(self) -> Warehouse:
        """The open warehouse (opened on first use)."""
        if self._warehouse is None:
            self._warehouse = Warehouse.open(
                self.settings.engine, self.root, self.settings.workspace.timezone
            )
        return self._warehouse

    @property
    def database_path(self) -> str:
        """Where the DuckDB file is."""
        return duckdb_path(self.settings.engine.url, self.root)

    def close(self) -> None:
        """Release the warehouse."""
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- services ------------------------------------------------------------------------

    def ingest(
        self,
        table: str,
        files: Sequence[Path],
        *,
        mapping: Path | Mapping | None = None,
        replace: bool = False,
        allow_orphans: bool = False,
        encoding: str | None = None,
        loaded_by: str | None = None,
        on_step: Step | None = None,
    ) -> IngestResult:
        """Validate and load files into a canonical table, all or nothing (see ``ingest``)."""
        if isinstance(mapping, Path):
            mapping = Mapping.from_toml(mapping)
        return ingest_files(
            self.warehouse.sql, table, list(files), mapping=mapping, replace=replace,
            allow_orphans=allow_orphans, encoding=encoding, loaded_by=loaded_by,
            on_step=on_step,
        )

    def batches(self, table: str | None = None) -> list[Batch]:
        """The load ledger, newest first."""
        return list_batches(self.warehouse.sql, table)

    def query(self, metrics: str | Sequence[str], **request: Any) -> pd.DataFrame:
        """Compute metrics: one row per metric, period and segment (see ``MetricRequest``).

        ``request`` takes ``period`` (day, week, month, quarter, year), ``start``, ``end``,
        ``by`` (segment columns), ``customer``, ``where`` ({column: value}) and ``as_of``.
        """
        return compute(self.warehouse.ibis, self.settings,
                       MetricRequest.create(metrics, **request))

    def cohorts(self, kind: str = "logo", start: date | str | None = None,
                end: date | str | None = None) -> pd.DataFrame:
        """Monthly cohort table: one row per start month, one column per month since start,
        of logo retention (``kind="logo"``) or revenue retention (``"revenue"``); see
        ``csmetrics.metrics.cohorts``."""
        ctx = cohort_context(self.warehouse.ibis, self.settings, start, end)
        return cohort_table(ctx, kind)  # type: ignore[arg-type]

    def headline(self) -> list[Kpi]:
        """The headline KPIs of the last complete month, beside the month before."""
        return headline(self.warehouse.ibis, self.settings)

    def refresh(
        self, *, grains: Sequence[str] | None = None, on_step: Step | None = None
    ) -> dict[str, object]:
        """Recompute every metric for all periods and default segments and store the results
        (replacing the previous ones atomically); returns what the run did."""
        rows, run = compute_all(self.warehouse.ibis, self.settings,
                                grains=grains or DEFAULT_GRAINS, on_step=on_step)
        replace_metric_values(self.warehouse.sql, rows, run)
        return run

    def metric_values(
        self, metric: str | None = None, grain: str | None = None, segment_by: str | None = None
    ) -> pd.DataFrame:
        """Results stored by the last refresh."""
        return read_metric_values(self.warehouse.sql, metric, grain, segment_by)

    def table_counts(self) -> dict[str, int]:
        """Rows in every canonical table."""
        return {name: self.warehouse.count(name) for name in TABLES}
