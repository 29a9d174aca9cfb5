"""The schedule runner inside the server: ``run_schedules`` every few minutes in a background
thread, taking turns with the requests on the workspace (``csmetrics serve --scheduler``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from csmetrics.clock import default_clock
from csmetrics.reports.deliver import ScheduleRun, run_schedules
from csmetrics.reports.source import ReportSource


class Scheduler:
    """Calls ``run_schedules`` at start and then every ``every`` seconds until ``stop()``.
    ``use`` lends the workspace for one piece of work (the API's lock), so the runner and
    the requests never share the DuckDB connection at the same time. A failing run is
    reported on stderr and retried at the next tick; it never stops the server."""

    def __init__(self, use: Callable[[], AbstractContextManager[ReportSource]],
                 every: float = 3600) -> None:
        self.use = use
        self.every = every
        self.runs: list[ScheduleRun] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="csmetrics-scheduler",
                                        daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Ask the thread to stop and wait for a run in progress to finish."""
        self._stop.set()
        self._thread.join(timeout)

    def tick(self) -> None:
        """One run of every due schedule and the outbox."""
        try:
            with self.use() as ws:
                self.runs.append(run_schedules(ws))
        except Exception as exc:  # noqa: BLE001 - keep serving; say what failed
            stamp = default_clock().now().isoformat(timespec="seconds")
            print(f"{stamp} csmetrics scheduler: run failed: {exc}", file=sys.stderr)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.every)
