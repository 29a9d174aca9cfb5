"""Results the server has computed, kept until the warehouse next changes.

Every read of the dashboard and the API asks the same few questions of data that changes
only when something is written (a load, a refresh, a setting): the health of every account,
a metric over the data's months, the customer list. ``Results`` keeps each answer under its
question for the current *generation* of the warehouse; every write through the server
(``Site.writing``: the dashboard, the API, and CLI commands the server runs for the CLI)
starts a new generation, so no answer outlives the data it came from; so does a change of
the *stamp*, what the answers depend on besides the warehouse (today's date, files read on
each use). While a write runs, readers keep the answers of the committed data, as DuckDB's
snapshots do.

One computation per question: when several requests ask the same thing at once, one
computes and the others wait for its answer (or its error)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Answers kept per generation, least recently asked dropped first.
LIMIT = 4096


class Results:
    """Answers per question for the warehouse's current generation (see the module)."""

    def __init__(self, stamp: Callable[[], Hashable] = lambda: None,
                 limit: int = LIMIT) -> None:
        self.limit = limit
        self._stamp = stamp
        self._stamped: Hashable = stamp()
        self._lock = threading.Lock()
        self._answers: dict[Hashable, Future[Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer to ``key``: kept, being computed by another request, or ``compute()``
        now. An error is not kept: the next request asks again."""
        stamp = self._stamp()
        with self._lock:
            if stamp != self._stamped:
                self._stamped = stamp
                self._answers = {}
            answer = self._answers.pop(key, None)
            mine = answer is None
            if mine:
                answer = Future()
            self._answers[key] = answer  # (re)inserted last: the most recently asked
            while len(self._answers) > self.limit:
                del self._answers[next(iter(self._answers))]
        if not mine:
            return answer.result()  # type: ignore[no-any-return]
        try:
            value = compute()
        except BaseException as exc:
            answer.set_exception(exc)
            with self._lock:
                if self._answers.get(key) is answer:
                    del self._answers[key]
            raise
        # computed across a write, it was dropped with the old generation's answers
        answer.set_result(value)
        return value

    def forget(self) -> None:
        """The warehouse changed: start a new generation without the old answers."""
        with self._lock:
            self._answers = {}


def file_stamp(path: Path) -> tuple[int, int] | None:
    """When a file last changed and its size; None when it is missing."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
