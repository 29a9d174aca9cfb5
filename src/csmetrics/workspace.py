"""The workspace: a folder with ``csmetrics.toml`` and its warehouse; the facade every
interface (CLI, API, dashboard) calls."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from csmetrics.alerts.rulebook import DEFAULT_ALERTS, AlertsConfig, load_alerts
from csmetrics.alerts.service import evaluate as evaluate_rules
from csmetrics.alerts.service import task_notice
from csmetrics.alerts.tasks import Outcome, Task, Tasks
from csmetrics.clock import Clock, default_clock, parse_day
from csmetrics.config import CONFIG_FILE, DEFAULT_CONFIG, Settings
from csmetrics.enrich.sentiment import SENTIMENT_TABLE, ScoreRun, score_texts
from csmetrics.errors import UserInputError, WorkspaceNotFoundError
from csmetrics.health import HealthScores, Scorecard, load_scorecard, score_accounts
from csmetrics.health import history as health_history
from csmetrics.health.backtest import Backtest, backtest
from csmetrics.health.explain import Explanation, explain
from csmetrics.health.scorecard import DEFAULT_SCORECARD
from csmetrics.ingest import Batch, IngestResult, Mapping, ingest_files, list_batches
from csmetrics.ingest.load import LakeTarget, Preview, Step, preview_files
from csmetrics.insights.requests import RequestReport
from csmetrics.insights.service import customer_texts, find_themes, rank_requests
from csmetrics.insights.themes import ThemeReport
from csmetrics.metrics import MetricRequest, compute
from csmetrics.metrics.cohorts import cohort_context, cohort_table
from csmetrics.metrics.engine import data_end, workspace_today
from csmetrics.metrics.headline import Freshness, Kpi, headline, last_refreshed
from csmetrics.metrics.refresh import (
    DEFAULT_GRAINS,
    compute_all,
    current_basis,
    data_start,
    plan_refresh,
)
from csmetrics.metrics.stored import stored_answer
from csmetrics.reports.customer360 import CustomerView, CustomerViews, customer_views
from csmetrics.schema import TABLES
from csmetrics.store import Warehouse
from csmetrics.store.appstore import (
    AppConnection,
    cursor_for_thread,
    open_app_store,
    shares_warehouse,
)
from csmetrics.store.engines import scheme_of
from csmetrics.store.materialize import read_metric_values, replace_metric_values
from csmetrics.store.sources import require_valid
from csmetrics.store.warehouse import LAKE_CATALOG, duckdb_path

ENV_VAR = "CSMETRICS_WORKSPACE"


class Workspace:
    """One company's settings and warehouse. Open it with ``Workspace.find`` or ``init``."""

    def __init__(self, root: Path, settings: Settings, clock: Clock | None = None) -> None:
        self.root = root
        self.settings = settings
        self.clock = clock or default_clock()
        self._warehouse: Warehouse | None = None
        self._app: AppConnection | None = None  # a separate app store, once opened
        self._tasks: Tasks | None = None

    # -- finding and creating -------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        *,
        name: str = "My company",
        currency: str = "USD",
        timezone: str = "UTC",
        clock: Clock | None = None,
        engine_url: str = "duckdb:///csmetrics.duckdb",
        lake: str = "",
    ) -> Workspace:
        """Create a workspace in ``directory``: a commented config and a warehouse with every
        canonical table. Refuses to overwrite an existing config. ``engine_url`` and ``lake``
        go to ``[engine]``: a Spark workspace with a lake keeps its tables there."""
        directory = directory.resolve()
        config = directory / CONFIG_FILE
        if config.exists():
            raise UserInputError(
                f"{config} already exists; this folder is a workspace. Use it as it is, or "
                "choose another folder."
            )
        text = DEFAULT_CONFIG.format(name=name.replace('"', "'"), currency=currency,
                                     timezone=timezone, engine_url=engine_url.replace('"', ""),
                                     lake=lake.replace('"', ""))
        settings = Settings.from_mapping(tomllib.loads(text), source=str(config))
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(text, encoding="utf-8")
        scorecard = directory / settings.health.scorecard
        if not scorecard.exists():
            scorecard.write_text(DEFAULT_SCORECARD, encoding="utf-8")
        rules = directory / settings.alerts.file
        if not rules.exists():
            rules.write_text(DEFAULT_ALERTS, encoding="utf-8")
        workspace = cls(directory, settings, clock)
        _ = workspace.warehouse  # creates the database file and its tables
        return workspace

    @classmethod
    def load(cls, root: Path, clock: Clock | None = None) -> Workspace:
        """The workspace whose ``csmetrics.toml`` is in ``root``; ``clock`` says what today is
        (default: the process clock, see ``csmetrics.clock``)."""
        config = root / CONFIG_FILE
        if not config.is_file():
            raise WorkspaceNotFoundError(
                f"{root} is not a workspace (no {CONFIG_FILE}); create one with "
                f"'csmetrics init {root}'."
            )
        return cls(root.resolve(), Settings.from_toml(config), clock)

    @classmethod
    def find(cls, explicit: Path | None = None, start: Path | None = None,
             clock: Clock | None = None) -> Workspace:
        """The workspace named by ``explicit``, ``$CSMETRICS_WORKSPACE``, or the nearest folder
        from ``start`` (default: the current one) upwards that has a ``csmetrics.toml``."""
        return cls.load(cls.locate(explicit, start), clock)

    @staticmethod
    def locate(explicit: Path | None = None, start: Path | None = None) -> Path:
        """The folder ``find`` opens (unresolved when named), without reading it."""
        if explicit is not None:
            return explicit
        if os.environ.get(ENV_VAR):
            return Path(os.environ[ENV_VAR])
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file():
                return folder
        raise WorkspaceNotFoundError(
            f"No {CONFIG_FILE} in {here} or any folder above it. Run 'csmetrics init' here, "
            "or pass --workspace DIR."
        )

    # -- time --------------------------------------------------------------------------

    def today(self) -> date:
        """Today's calendar day in the workspace's time zone, by the workspace's clock."""
        return workspace_today(self.settings, self.clock)

    def data_end(self) -> date:
        """The last day anything was recorded, never after today: the default end of every
        query, score and report."""
        today = self.today()
        if self.warehouse.has_catalog:  # the stored results' end, while the ledger shows it holds
            basis = current_basis(self.warehouse.sql, self.settings, today=today)
            if basis is not None:
                return basis["known_until"]  # type: ignore[return-value]
        return data_end(self.warehouse.ibis, today)

    def freshness(self) -> Freshness:
        """"data through DATE · refreshed at TIME": the data end and the last refresh."""
        return Freshness(self.data_end(), last_refreshed(self.warehouse.sql),
                         self.settings.workspace.timezone)

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
    def app(self) -> AppConnection:
        """The app store's connection: users, API tokens, sessions, tasks, notifications,
        schedule runs and rule state (``csmetrics.store.appstore``). The warehouse's own
        DuckDB connection unless ``[app] url`` names another store (opened on first use)."""
        if self._app is not None:
            return self._app
        if shares_warehouse(self.settings, self.root):
            return self.warehouse.sql
        self._app = open_app_store(self.settings.app.url, self.root,
                                   self.settings.workspace.timezone)
        return self._app

    def session(self) -> Workspace:
        """The same workspace over a connection of its own (``Warehouse.cursor``), for one
        thread of a server: sessions read side by side; closing one leaves this open."""
        other = Workspace(self.root, self.settings, self.clock)
        other._warehouse = self.warehouse.cursor()
        if not shares_warehouse(self.settings, self.root):
            other._app = cursor_for_thread(self.app, self.settings.workspace.timezone)
        return other

    @property
    def database_path(self) -> str:
        """Where the warehouse is, for people: the DuckDB file; with Spark, its URL (and the
        lake and its catalog file, when there is a lake)."""
        engine = self.settings.engine
        if scheme_of(engine.url) == "duckdb":
            return duckdb_path(engine.url, self.root)
        if engine.lake:
            lake = Path(engine.lake)
            return (f"{engine.url}, lake {lake if lake.is_absolute() else self.root / lake}, "
                    f"catalog {self.root / LAKE_CATALOG}")
        return engine.url

    def close(self) -> None:
        """Release the warehouse (and a separate app store)."""
        if self._app is not None:
            self._app.close()
            self._app = None
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
        replace_columns: bool = False,
    ) -> IngestResult:
        """Validate and load files into a canonical table, all or nothing (see ``ingest``);
        dates outside ``[ingest] earliest_date``..``latest_date`` are refused."""
        if self.settings.engine.tables:
            _ = self.warehouse.ibis  # reads the mapping file
            mapped = self.warehouse.sources
            if mapped is not None and table in mapped.sources:
                raise UserInputError(
                    f"{table} is mapped to your own table in {mapped.where(table)}: csmetrics "
                    "reads it there and does not load files into it. Load the rows into "
                    f"that table, or remove [{table}] from {mapped.path.name} to load files.")
            if mapped is not None and "customers" in mapped.sources:
                self.warehouse.mirror_sources(["customers"])  # the batch's customer check
        if isinstance(mapping, Path):
            mapping = Mapping.from_toml(mapping)
        window = (self.settings.ingest.earliest_date, self.settings.ingest.latest_date)
        return ingest_files(
            self.warehouse.sql, table, list(files), mapping=mapping, replace=replace,
            allow_orphans=allow_orphans, encoding=encoding, loaded_by=loaded_by,
            on_step=on_step, replace_columns=replace_columns, date_window=window,
            reporting_currency=self.settings.workspace.currency, lake=self._lake_target(),
        )

    def _lake_target(self) -> LakeTarget | None:
        """Where a batch goes in a Spark workspace with a lake (None: into DuckDB)."""
        lake = self.warehouse.lake
        return None if lake is None else LakeTarget(lake, lambda: self.warehouse.ibis)

    def preview_ingest(self, table: str, files: Sequence[Path], *,
                       mapping: Path | Mapping | None = None, allow_orphans: bool = False,
                       encoding: str | None = None, rows: int = 5) -> Preview:
        """How ``ingest`` would map and check these files, writing nothing: the first
        ``rows`` rows as they map and every problem that would refuse them."""
        if isinstance(mapping, Path):
            mapping = Mapping.from_toml(mapping)
        window = (self.settings.ingest.earliest_date, self.settings.ingest.latest_date)
        return preview_files(
            self.warehouse.sql, table, list(files), mapping=mapping,
            allow_orphans=allow_orphans, encoding=encoding, date_window=window,
            reporting_currency=self.settings.workspace.currency, rows=rows,
        )

    def batches(self, table: str | None = None) -> list[Batch]:
        """The load ledger, newest first."""
        return list_batches(self.warehouse.sql, table)

    def query(self, metrics: str | Sequence[str], *, stored: bool = False,
              **request: Any) -> pd.DataFrame:
        """Compute metrics: one row per metric, period and segment (see ``MetricRequest``).

        ``request`` takes ``period`` (day, week, month, quarter, year), ``start``, ``end``,
        ``by`` (segment columns), ``customer``, ``where`` ({column: value}) and ``as_of``.
        ``stored``: read the answer from the last refresh when it is current and holds it
        (totals of a refreshed grain; see ``metrics.stored``), else compute it.
        """
        wanted = MetricRequest.create(metrics, **request)
        if stored and self.warehouse.has_catalog:
            answer = stored_answer(self.warehouse.sql, lambda: self.warehouse.ibis,
                                   self.settings, wanted, today=self.today())
            if answer is not None:
                return answer
        return compute(self.warehouse.ibis, self.settings, wanted, today=self.today())

    def cohorts(self, kind: str = "logo", start: date | str | None = None,
                end: date | str | None = None) -> pd.DataFrame:
        """Monthly cohort table: one row per start month, one column per month since start,
        of logo retention (``kind="logo"``) or revenue retention (``"revenue"``); see
        ``csmetrics.metrics.cohorts``."""
        ctx = cohort_context(self.warehouse.ibis, self.settings, start, end,
                             today=self.today())
        return cohort_table(ctx, kind)  # type: ignore[arg-type]

    def headline(self) -> list[Kpi]:
        """The headline KPIs of the last complete month, beside the month before."""
        return headline(self.warehouse.ibis, self.settings, today=self.today())

    def refresh(
        self, *, grains: Sequence[str] | None = None, on_step: Step | None = None,
        full: bool = False,
    ) -> dict[str, object]:
        """Recompute the metrics for all periods and default segments and store the results
        (replacing the previous ones atomically), then snapshot every account's health as of
        the end of the data (``health.snapshot_on_refresh``) and evaluate the alert rules
        (``alerts.evaluate_on_refresh``); returns what the run did.

        Incremental unless ``full``: after new data, only the periods it can change are
        recomputed (see ``csmetrics.metrics.refresh``); the result equals a full refresh."""
        if self.warehouse.sources is not None or self.settings.engine.tables:
            require_valid(self.warehouse.ibis, self.warehouse.sources, (
                self.settings.ingest.earliest_date, self.settings.ingest.latest_date))
            if on_step is not None and self.warehouse.lake is not None:
                on_step("your tables, copied into the lake for the dashboard")
            self.warehouse.mirror_sources()
        if on_step is not None:
            on_step("text sentiment")
        scored = self.voice_score()
        if self.settings.health.snapshot_on_refresh:
            self.scorecard()  # a bad health.toml fails before the long metrics run
        grains = list(grains or DEFAULT_GRAINS)
        segments = list(self.settings.metrics.default_segments)
        today = self.today()
        plan = plan_refresh(self.warehouse.sql, self.warehouse.ibis, self.settings, grains,
                            segments, today=today)
        if full:
            plan = dataclasses.replace(plan, full=True, since=None,
                                       reason="a full refresh was asked for")
        elif not plan.full and self.warehouse.sources is not None:
            plan = dataclasses.replace(plan, full=True, since=None, reason=(
                f"{', '.join(self.warehouse.sources.sources)} are read from your own tables "
                f"({self.warehouse.sources.path.name}), which change outside csmetrics' "
                "load ledger"))
        if on_step is not None:
            on_step(f"{'full' if plan.full else 'incremental'} refresh: {plan.reason}")
        if not plan.full and plan.since is None:
            con = self.warehouse.ibis
            run: dict[str, object] = {
                "grains": grains, "segments": segments, "rows": len(self.metric_values()),
                "seconds": 0.0, "first": data_start(con, today), "last": data_end(con, today),
                "incremental_from": None, "metric_since": {}, "metric_days": {}}
        else:
            previous = None if plan.full else self.metric_values()
            rows, run = compute_all(self.warehouse.ibis, self.settings, grains=grains,
                                    segments=segments, on_step=on_step,
                                    since=None if plan.full else plan.metric_since(),
                                    days=None if plan.full else plan.metric_days(),
                                    previous=previous, today=today)
            replace_metric_values(self.warehouse.sql, rows, run, {
                "config": plan.config, "last_batch": plan.last_batch, "first_day": run["first"],
                "known_until": run["last"]})
        run["mode"] = "full" if plan.full else "incremental"
        run["reason"] = plan.reason
        run["texts_scored"] = scored.scored
        if self.settings.health.snapshot_on_refresh:
            if on_step is not None:
                on_step("health snapshot")
            run["health_accounts"] = len(self.health_snapshot().scores)
        if self.settings.alerts.evaluate_on_refresh:
            if on_step is not None:
                on_step("rules and tasks")
            outcome = self.evaluate_rules()
            run["rule_firings"] = len(outcome.firings)
            run["tasks_opened"] = len(outcome.created)
        return run

    def metric_values(
        self, metric: str | None = None, grain: str | None = None, segment_by: str | None = None
    ) -> pd.DataFrame:
        """Results stored by the last refresh."""
        return read_metric_values(self.warehouse.sql, metric, grain, segment_by)

    def customer_list(self, *, stored: bool = False) -> pd.DataFrame:
        """Every customer's profile columns, MRR and ARR (12 x MRR) on the last day of the data;
        an empty plan is the plan of the customer's subscriptions (``subscription_plans``).

        ``stored``: take the MRR of paying accounts from the current health snapshot of that
        day when there is one (see ``health``), else compute it."""
        sql = self.warehouse.sql
        frame = sql.execute("SELECT customer_id, name, started_at, plan, region, owner, "
                            "size_tier FROM customers").df()
        end = self.data_end()
        snapshot = None
        if stored and self.warehouse.has_catalog:
            snapshot = health_history.current_snapshot(sql, end, self.scorecard(),
                                                       self.settings)
        if snapshot is not None:
            mrr = snapshot.scores[["customer_id", "mrr"]]
        else:
            mrr = self.query("mrr", period="day", start=end, end=end, by="customer_id")[
                ["customer_id", "value"]].rename(columns={"value": "mrr"})
        frame = frame.merge(mrr, on="customer_id", how="left")
        frame["mrr"] = frame["mrr"].fillna(0.0)
        frame["arr"] = frame["mrr"] * 12
        if frame["plan"].isna().any():  # a billing tool's export: the plan is on subscriptions
            from csmetrics.metrics.context import subscription_plans

            plans = self.warehouse.ibis.execute(subscription_plans(
                self.warehouse.ibis.table("subscriptions"), end))
            frame["plan"] = frame["plan"].fillna(
                frame["customer_id"].map(plans.set_index("customer_id")["plan"]))
        frame["started_at"] = pd.to_datetime(frame["started_at"]).dt.date
        return frame

    def customer_360(self, customer: str) -> CustomerView | None:
        """One customer's profile, month-end MRR over the last twelve months, and how many
        rows each table holds for it; None for an unknown customer."""
        return self.customer_views(customer).view(customer)

    def customer_views(self, customer: str | None = None) -> CustomerViews:
        """The 360 views of ``customer``, or of every customer at once (None)."""
        return customer_views(self.warehouse.sql, self.query, customer)

    def table_counts(self) -> dict[str, int]:
        """Rows in every canonical table."""
        return {name: self.warehouse.count(name) for name in TABLES}

    # -- health --------------------------------------------------------------------------

    def scorecard(self) -> Scorecard:
        """The health scorecard: the file ``health.scorecard`` names, or the default."""
        return load_scorecard(self.root / self.settings.health.scorecard)

    def health(self, as_of: date | str | None = None, *, stored: bool = False) -> HealthScores:
        """Every paying account's health as of ``as_of`` (default: the end of the data), from
        the data known then, with the change since the latest earlier snapshot.

        ``stored``: read the snapshot of that date when it is current (same scorecard and
        settings, no load since; see ``health.history.current_snapshot``), else score."""
        day = parse_day(as_of, "--as-of") or self.data_end()
        scorecard = self.scorecard()
        scores = None
        if stored and self.warehouse.has_catalog:
            scores = health_history.current_snapshot(self.warehouse.sql, day, scorecard,
                                                     self.settings)
        if scores is None:
            scores = score_accounts(self.warehouse.ibis, self.settings, scorecard, day)
        return health_history.with_change(self.warehouse.sql, scores)

    def health_explain(self, customer: str, as_of: date | str | None = None, *,
                       stored: bool = False) -> Explanation:
        """Why ``customer`` has its score: each component's value, points, weight, pull."""
        return explain(self.health(as_of, stored=stored), self.scorecard(), customer)

    def health_snapshot(self, as_of: date | str | None = None) -> HealthScores:
        """Compute the health as of ``as_of`` (default: the data end) and store it as that
        date's snapshot, replacing an earlier one."""
        scores = self.health(as_of)
        health_history.write_snapshot(self.warehouse.sql, scores, self.scorecard(),
                                      self.settings)
        return scores

    def health_rebuild(self, start: date | str, end: date | str | None = None,
                       every: str = "month", on_step: Step | None = None) -> list[date]:
        """Snapshot every date of the schedule from ``start`` to ``end`` (default: the data
        end), each from the data as it was on that date; returns the dates."""
        first = parse_day(start, "--from")
        last = parse_day(end, "--to") or self.data_end()
        assert first is not None
        dates = health_history.schedule(first, last, every)
        for day in dates:
            if on_step is not None:
                on_step(f"health as of {day}")
            self.health_snapshot(day)
        return dates

    def health_history(self, customer: str | None = None) -> pd.DataFrame:
        """Stored snapshots (every date, or one customer's), oldest first."""
        return health_history.read_scores(self.warehouse.sql, customer=customer)

    def health_backtest(self, horizon_days: int = 90, start: date | str | None = None,
                        end: date | str | None = None) -> Backtest:
        """How well the stored snapshots dated ``start``..``end`` separated the accounts that
        churned within ``horizon_days`` (see ``csmetrics.health.backtest``)."""
        first = parse_day(start, "--from")
        last = parse_day(end, "--to")
        dates = health_history.snapshot_dates(self.warehouse.sql, first, last)
        if not dates:
            raise UserInputError(
                "No health snapshots in that range to backtest. Build them with 'csmetrics "
                "health history --rebuild --from YYYY-MM-DD --to YYYY-MM-DD --every month'.")
        con = self.warehouse.sql
        return backtest(self.warehouse.ibis, self.settings,
                        health_history.read_scores(con, dates),
                        health_history.read_components(con, dates), horizon_days,
                        self.data_end())

    # -- voice of the customer (csmetrics.insights) ---------------------------------------

    def voice_score(self) -> ScoreRun:
        """Score the sentiment of texts not scored yet (or changed) into ``_text_sentiment``."""
        run = score_texts(self.warehouse.sql)
        self.warehouse.published(SENTIMENT_TABLE)
        return run

    def voice_texts(self, customer: str, as_of: date | str | None = None) -> pd.DataFrame:
        """One customer's scored texts (comments, notes, feedback), newest first."""
        return customer_texts(self.warehouse.sql, self.warehouse.ibis, customer,
                              parse_day(as_of, "--as-of"))

    def voice_themes(self, **options: Any) -> ThemeReport:
        """Themes of the comments, notes and feedback (``period``, ``by``, ``as_of``,
        ``seed``, ``sources``, ``save``; see ``csmetrics.insights.service.find_themes``)."""
        options["as_of"] = parse_day(options.get("as_of"), "--as-of")
        options.setdefault("today", self.today())
        return find_themes(self.warehouse.sql, self.warehouse.ibis, self.settings, **options)

    def voice_requests(
        self, **options: Any
    ) -> RequestReport | tuple[RequestReport, pd.DataFrame]:
        """Feature requests merged and ranked (``by``, ``as_of``, ``rank``, ``threshold``,
        ``save``; see ``csmetrics.insights.service.rank_requests``); with ``period``, also
        how many customers raised each request per period."""
        options["as_of"] = parse_day(options.get("as_of"), "--as-of")
        options.setdefault("today", self.today())
        return rank_requests(self.warehouse.sql, self.warehouse.ibis, self.settings,
                             **options)


    # -- notifications (csmetrics.alerts.notify) -------------------------------------------

    def notify(self, notices: Sequence[Any]) -> Any:
        """Record ``notices`` (``csmetrics.alerts.notify.Notice``) in the outbox, each key
        once per channel and recipient, and deliver what is due; returns the DeliveryReport."""
        from csmetrics.alerts import notify

        notify.enqueue(self.app, notices, self.settings.notify)
        return notify.deliver(self.app, self.settings.notify)

    def deliver_notifications(self, now: Any = None) -> Any:
        """Send the outbox's pending notices that are due (retries included); returns the
        DeliveryReport."""
        from csmetrics.alerts import notify

        return notify.deliver(self.app, self.settings.notify, now=now)

    # -- rules and tasks (csmetrics.alerts) ------------------------------------------------

    def alerts(self) -> AlertsConfig:
        """The team, playbooks and rules (``alerts.file``; the default rules without it)."""
        return load_alerts(self.root / self.settings.alerts.file)

    def alerts_text(self) -> str:
        """The alerts file as written (the default rules when there is none yet)."""
        path = self.root / self.settings.alerts.file
        return path.read_text(encoding="utf-8") if path.is_file() else DEFAULT_ALERTS

    def save_alerts(self, text: str) -> AlertsConfig:
        """Replace the alerts file with ``text`` after checking it (a bad file is refused
        with the problem named, and the old one stays); the write is atomic."""
        path = self.root / self.settings.alerts.file
        config = AlertsConfig.from_text(text, str(path))
        temporary = path.with_name(path.name + ".new")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
        return config

    @property
    def tasks(self) -> Tasks:
        """The task store (its tables are made once per open warehouse)."""
        if self._tasks is None or self._tasks.con is not self.app:
            self._tasks = Tasks(self.app)
        return self._tasks

    def evaluate_rules(self, as_of: date | str | None = None, *, rules: list[str] | None = None,
                       dry_run: bool = False, today: date | None = None) -> Outcome:
        """Evaluate the rules as of ``as_of`` (default: the last day with data), open tasks
        for new firings and notify their assignees; ``dry_run`` only reports the firings."""
        day = parse_day(as_of, "--as-of") or self.data_end()
        alerts = self.alerts()
        outcome = evaluate_rules(self.warehouse, self.tasks, self.settings, self.scorecard(),
                                 alerts, day, rules=rules, dry_run=dry_run,
                                 today=today or self.today())
        if outcome.created:
            self.notify([task_notice(t, alerts) for t in outcome.created])
        return outcome

    def assign_task(self, task_id: int, assignee: str, actor: str) -> Task:
        """Give a task to someone and tell them."""
        task = self.tasks.assign(task_id, assignee, actor)
        self.notify([task_notice(task, self.alerts(), "task.assigned")])
        return task

    # -- predictions (csmetrics.predict) ---------------------------------------------------

    def churn_train(self, horizon_days: int | None = None, seed: int | None = None,
                    on_step: Step | None = None) -> Any:
        """Train the churn model (with its baselines) and save it in the app store (shared
        by the servers) and under ``models/``."""
        from csmetrics.predict import churn

        p = self.settings.predict
        model = churn.train(self.warehouse.ibis, self.settings,
                            horizon_days=horizon_days or p.churn_horizon_days,
                            as_of=self.data_end(), seed=p.seed if seed is None else seed,
                            max_cutoffs=p.churn_cutoffs, scorecard=self.scorecard(),
                            on_step=on_step)
        churn.save_model(model, self.root, self._model_store())
        return model

    def churn_model(self) -> Any:
        """The saved churn model (the app store's newest, else the files under ``models/``),
        refused with a clear error when it no longer fits."""
        from csmetrics.predict import churn

        return churn.load_model(self.root, self.warehouse.ibis, self._model_store())

    def _model_store(self) -> AppConnection | None:
        """Where trained models are shared: the app store (``_models``); None for a
        query-only warehouse without an app store of its own (the files alone)."""
        if shares_warehouse(self.settings, self.root) and not self.warehouse.has_catalog:
            return None
        return self.app

    def churn_scores(self, as_of: date | str | None = None) -> pd.DataFrame:
        """Score every paying customer with the saved model; stored in ``_churn_scores``."""
        from csmetrics.predict import churn, results

        frame = churn.score(self.warehouse.ibis, self.settings, self.churn_model(),
                            parse_day(as_of, "--as-of") or self.data_end(),
                            scorecard=self.scorecard())
        results.replace(self.warehouse.sql, "_churn_scores", frame,
                        {"as_of": frame["as_of"].iloc[0]})
        return frame

    def churn_explain(self, customer: str, as_of: date | str | None = None) -> Any:
        """(probability, explanations) of one customer with the saved model."""
        from csmetrics.predict import churn

        return churn.explain(self.warehouse.ibis, self.settings, self.churn_model(), customer,
                             parse_day(as_of, "--as-of") or self.data_end(),
                             scorecard=self.scorecard())

    def clv_fit(self, until: date | str | None = None, time_unit: str | None = None,
                horizon_months: int | None = None,
                discount_rate: float | None = None, model: str = "both") -> Any:
        """Fit BG/NBD + Gamma-Gamma (BG/NBD alone: ``model="bgnbd"``; Pareto/NBD +
        Gamma-Gamma: ``model="pareto"``) on paid orders and
        store per-customer CLV (see ``csmetrics.predict.service.fit_clv``)."""
        from csmetrics.predict.service import fit_clv

        return fit_clv(self.warehouse, self.settings, parse_day(until, "--until"), time_unit,
                       horizon_months, discount_rate, model)

    def purchase_model(self, until: date | str | None = None, time_unit: str | None = None,
                       params: tuple[float, float, float, float] | None = None,
                       model: str = "bgnbd") -> Any:
        """BG/NBD (or Pareto/NBD: ``model="pareto"``) on the paid orders, fitted or at given
        parameters, not stored (``csmetrics.predict.service.purchase_model``)."""
        from csmetrics.predict.service import purchase_model

        return purchase_model(self.warehouse, self.settings, parse_day(until, "--until"),
                              time_unit, params, model)

    def clv_holdout(self, until: date | str, end: date | str | None = None,
                    time_unit: str | None = None) -> Any:
        """Fit BG/NBD on the paid orders up to ``until`` and compare its predicted repeat
        purchases with the actual ones up to ``end`` (``csmetrics.predict.clv.holdout``)."""
        from csmetrics.predict.service import clv_holdout

        return clv_holdout(self.warehouse, self.settings, parse_day(until, "--until"),
                           parse_day(end, "--end"), time_unit)

    def survival(self, by: str | None = None, as_of: date | str | None = None, *,
                 ci: str = "log", horizon_months: float | None = None,
                 tail: bool = False, store: bool = True) -> Any:
        """Kaplan-Meier lifetime curves per segment, median, RMST and log-rank test; stored
        in ``_survival_*`` unless ``store`` is false (see
        ``csmetrics.predict.service.survival``)."""
        from csmetrics.predict.service import survival

        return survival(self.warehouse, self.settings, by,
                        parse_day(as_of, "--as-of") or self.data_end(), ci=ci,
                        horizon_months=horizon_months, tail=tail, store=store)

    def contractual_retention(self, by: str | None = None, period: str | None = None,
                              horizon: int = 12, discount_rate: float | None = None,
                              renewals: int = 0, as_of: date | str | None = None) -> Any:
        """sBG retention fits per start cohort or segment, not stored (see
        ``csmetrics.predict.contractual.retention_fits``); ``discount_rate`` is annual,
        default ``[predict] clv_discount_rate``."""
        from csmetrics.predict.contractual import retention_fits

        rate = self.settings.predict.clv_discount_rate if discount_rate is None else discount_rate
        return retention_fits(self.warehouse.ibis, self.settings,
                              as_of=parse_day(as_of, "--as-of") or self.data_end(), by=by,
                              period=period, horizon=horizon, discount_rate=rate,
                              renewals=renewals)


