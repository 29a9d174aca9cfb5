"""The server's kept results: one answer per question and generation of the warehouse."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from csmetrics.server.results import Results, file_stamp


def counting(value: object) -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> object:
        calls.append(1)
        return value
    return calls, compute


def test_an_answer_is_kept_until_the_warehouse_changes() -> None:
    results = Results()
    calls, compute = counting("a")
    assert results.get("q", compute) == "a"
    assert results.get("q", compute) == "a"
    assert len(calls) == 1
    results.forget()
    assert results.get("q", compute) == "a"
    assert len(calls) == 2


def test_questions_are_kept_apart() -> None:
    results = Results()
    assert results.get(("metric", "mrr"), lambda: 1) == 1
    assert results.get(("metric", "nrr"), lambda: 2) == 2
    assert results.get(("metric", "mrr"), lambda: 3) == 1


def test_a_new_stamp_drops_the_answers() -> None:
    stamp = ["monday"]
    results = Results(stamp=lambda: stamp[0])
    calls, compute = counting("x")
    results.get("q", compute)
    results.get("q", compute)
    stamp[0] = "tuesday"
    results.get("q", compute)
    assert len(calls) == 2


def test_an_error_is_not_kept() -> None:
    results = Results()
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return "ok"

    with pytest.raises(RuntimeError):
        results.get("q", flaky)
    assert results.get("q", flaky) == "ok"
    assert len(attempts) == 2


def test_requests_asking_the_same_at_once_compute_it_once() -> None:
    results = Results()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "answer"

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(results.get, "q", slow)
        assert started.wait(10)
        others = [pool.submit(results.get, "q", slow) for _ in range(7)]
        time.sleep(0.05)  # the others are waiting, not computing (calls stays at 1)
        release.set()
        assert first.result(10) == "answer"
        assert [o.result(10) for o in others] == ["answer"] * 7
    assert len(calls) == 1


def test_an_answer_computed_across_a_write_is_not_kept() -> None:
    """A read that began before a write may have seen the old data: answered, not kept."""
    results = Results()

    def during_a_write() -> str:
        results.forget()  # a write commits while the answer is computed
        return "old"

    assert results.get("q", during_a_write) == "old"
    assert results.get("q", lambda: "new") == "new"


def test_the_least_recently_asked_answer_goes_first() -> None:
    results = Results(limit=2)
    results.get("a", lambda: 1)
    results.get("b", lambda: 2)
    results.get("a", lambda: 0)  # asked again: now the most recent
    results.get("c", lambda: 3)  # over the limit: b goes
    assert results.get("a", lambda: -1) == 1
    assert results.get("b", lambda: -2) == -2


def test_file_stamp_changes_with_the_file(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "health.toml"
    assert file_stamp(path) is None
    path.write_text("a")
    first = file_stamp(path)
    path.write_text("ab")
    assert file_stamp(path) != first
