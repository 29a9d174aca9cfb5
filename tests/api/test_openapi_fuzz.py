"""Fuzzing the API from its own OpenAPI schema (schemathesis): whatever an editor sends, valid
or not, the answer is never a server error (5xx).

Every operation gets a bounded number of generated requests, from a fixed seed with Hypothesis
derandomized, so a run is reproducible and a failure names the request (as a curl command) to
replay. The served workspace is a throwaway demo: the fuzzer uploads, pushes and edits.
Admin-only routes stay in: for an editor they are a 403, which is fine; a 5xx is not.

Random text rarely names a metric, a table or a column, so the requests would stop at the
first 404. Hooks swap real names (and near misses, and repeats) into the fields that take
them, so that the other fuzzed values reach the metric engine.

The fuzzer runs in a process of its own. Run the test alone with
``.venv/bin/python -m pytest tests/api/test_openapi_fuzz.py``; or fuzz a running server with
``CSMETRICS_FUZZ_TOKEN=<editor token> .venv/bin/python -m tests.api.test_openapi_fuzz URL``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import strategies as st

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.metrics import all_metrics
from csmetrics.schema import TABLES
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served

if TYPE_CHECKING:
    import schemathesis
    from schemathesis.engine import events

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: The editor's token, for the fuzzing process (kept off its command line).
TOKEN_VAR = "CSMETRICS_FUZZ_TOKEN"

SEED = 20260715
#: Generated requests per operation and phase (the coverage phase adds its boundary values).
MAX_EXAMPLES = 40
#: The metric queries take the most free-form input (periods, segments, filters): more.
METRIC_OPERATIONS = r"^/api/v1/metrics/"
METRIC_EXAMPLES = 120
#: A refresh recomputes every metric: one request shows it does not fail.
SLOW_OPERATIONS = ["/api/v1/refresh"]

METRICS = sorted(m.name for m in all_metrics())
COLUMNS = sorted({c for t in TABLES.values() for c in t.column_names})
#: Segment and filter names: any real column; and, often (so that repeats happen), a few
#: common ones, names a result row has too, a number column, and no column at all.
SEGMENTS = st.one_of(
    st.sampled_from(["plan", "region", "period_start", "value", "amount", "", "Plan"]),
    st.sampled_from(COLUMNS))


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A small demo company served on loopback; its URL and an editor's token."""
    folder = tmp_path_factory.mktemp("api-fuzz")
    ws = Workspace.init(folder / "ws", name="Fuzz Co")
    for table, paths in write_company(folder / "files", customers=15, months=4, seed=23,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("ed", "editor-password-1", "editor")
    token = accounts.create_token("ed", "fuzzing")
    with served(ws) as url:
        yield url, token
    ws.close()


def test_no_request_an_editor_sends_is_a_server_error(editor_server):
    url, token = editor_server
    # its own process: importing schemathesis patches Hypothesis for good (its printer and
    # buffer size), which the property tests of this session must not inherit
    run = subprocess.run([sys.executable, "-m", "tests.api.test_openapi_fuzz", url],
                         cwd=ROOT, env={**os.environ, TOKEN_VAR: token}, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"


def fuzz(url: str, token: str) -> list[str]:
    """Every operation of the API at ``url``, called as the owner of ``token``: what went
    wrong (a 5xx with the curl command that repeats it, or an error of the run)."""
    import schemathesis
    from schemathesis.core.result import Ok
    from schemathesis.engine import StopReason, events, from_schema

    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json",
                                           config=fuzz_config(token))
    _use_real_names(schema)
    problems: list[str] = []
    tested: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            problems.extend(_failures(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"{getattr(event, 'label', 'run')}: {_error_text(event)}")
        elif isinstance(event, events.EngineFinished) and (
                event.stop_reason != StopReason.COMPLETED):
            problems.append(f"the run stopped early: {event.stop_reason}")
    operations = {result.ok().label if isinstance(result, Ok) else str(result.err())
                  for result in schema.get_all_operations()}
    if missing := operations - tested:
        problems.append(f"never tested: {sorted(missing)}")
    return problems


def fuzz_config(token: str) -> schemathesis.Config:
    """Only the no-server-error check, every operation, bounded and reproducible."""
    import schemathesis

    return schemathesis.Config.from_dict({
        "seed": SEED,
        "workers": 1,
        "headers": {"Authorization": f"Bearer {token}"},
        "request-timeout": 120,
        "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "unique-inputs": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            {"include-path-regex": METRIC_OPERATIONS,
             "generation": {"max-examples": METRIC_EXAMPLES}},
            *({"include-path": path, "generation": {"max-examples": 1},
               "phases": {"coverage": {"enabled": False}}} for path in SLOW_OPERATIONS),
        ],
    })


def _use_real_names(schema: schemathesis.BaseSchema) -> None:
    """Fields that name a metric, a table or a segment column get real names (sometimes)."""

    @schema.hook
    def flatmap_path_parameters(context: Any, parameters: dict[str, Any] | None) -> Any:
        if not parameters:
            return st.just(parameters)
        if "table" in parameters:
            return st.sampled_from([*TABLES, parameters["table"]]).map(
                lambda table: {**parameters, "table": table})
        if "name" in parameters and "/metrics/" in context.operation.path:
            return st.sampled_from([*METRICS, parameters["name"]]).map(
                lambda name: {**parameters, "name": name})
        return st.just(parameters)

    @schema.hook
    def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
        if not isinstance(query, dict) or "by" not in query:
            return st.just(query)
        return st.lists(SEGMENTS, max_size=3).map(
            lambda by: {**query, "by": ",".join(by)})

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        if not isinstance(body, dict) or "metrics" not in body:
            return st.just(body)
        return st.fixed_dictionaries({
            "metrics": st.lists(st.sampled_from(METRICS), min_size=1, max_size=3),
            "by": st.lists(SEGMENTS, max_size=3),
            "where": st.dictionaries(SEGMENTS, st.text(max_size=5), max_size=2),
        }).map(lambda names: {**body, **names})


def _failures(event: events.ScenarioFinished) -> Iterator[str]:
    from schemathesis.engine import Status

    if event.status != Status.FAILURE:
        return
    for nodes in event.recorder.checks.values():
        for node in nodes:
            if node.failure_info is not None:
                failure = node.failure_info.failure
                yield (f"{event.recorder.label} [{event.phase.value}]: {failure.title}\n"
                       f"{failure.message}\n{node.failure_info.code_sample}")


def _error_text(event: Any) -> str:
    value = getattr(event, "value", None) or getattr(event, "exception", None)
    return f"{type(value).__name__}: {value}"


if __name__ == "__main__":  # python -m tests.api.test_openapi_fuzz URL (token in TOKEN_VAR)
    found = fuzz(sys.argv[1].rstrip("/"), os.environ[TOKEN_VAR])
    print("\n\n".join(found) or "no server errors")
    sys.exit(1 if found else 0)
