"""The command line starts without the heavy libraries: ``--help`` and ``metrics list`` import
neither pandas, Ibis, DuckDB nor the model and chart libraries (their time is measured in
``bench/cli_startup.py``, never here). Each check runs in a new interpreter, as a user's
command does, and reads its ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "ibis", "duckdb", "scipy", "sklearn", "plotly")

#: Runs the CLI in this interpreter with the given arguments, then prints which of HEAVY
#: were imported (and the exit code) as JSON on the last line.
PROBE = """
import json, sys
from csmetrics.cli import app
try:
    app(sys.argv[1:], prog_name="csmetrics")
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


def probe(*args: str) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_library():
    code = ("import sys, csmetrics.cli; "
            f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [("--help",), ("metrics", "--help"), ("metrics", "list"),
                                  ("metrics", "list", "--format", "json")])
def test_help_and_the_metric_list_import_no_heavy_library(args):
    outcome = probe(*args)
    assert outcome == {"code": 0, "heavy": []}


def test_the_metric_list_is_the_whole_registry():
    # listed without Ibis, the registry still holds every metric, each with its description
    result = subprocess.run([sys.executable, "-m", "csmetrics", "metrics", "list", "--format",
                             "json"], capture_output=True, text=True, timeout=120, check=True)
    names = [row["name"] for row in json.loads(result.stdout)]
    assert {"mrr", "nrr", "grr", "customer_churn_rate", "nps", "csat", "stickiness"} <= set(names)
    assert len(names) == len(set(names))


def test_the_package_still_offers_its_names_on_first_use():
    code = ("import sys, csmetrics; assert 'pandas' not in sys.modules; "
            "from csmetrics import Workspace, Settings, MetricRequest; "
            "from csmetrics.workspace import Workspace as W; assert Workspace is W; "
            "assert 'Workspace' in dir(csmetrics); "
            "print(sorted(set(csmetrics.__all__) - set(dir(csmetrics))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    missing = subprocess.run([sys.executable, "-c", "import csmetrics; csmetrics.Nope"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert "module 'csmetrics' has no attribute 'Nope'" in missing.stderr
