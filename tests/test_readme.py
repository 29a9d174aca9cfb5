"""The README keeps its promises: two commands first, every metric listed."""

from __future__ import annotations

import re
from pathlib import Path

from csmetrics.metrics import all_metrics

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_quick_start_is_exactly_make_demo_and_make_test():
    block = README.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]


def test_every_metric_is_in_the_readme_table():
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", README, flags=re.MULTILINE))
    assert listed == {m.name for m in all_metrics()}


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci
