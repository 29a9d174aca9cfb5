"""A small demo company for the report tests, built once per test session by the real
command, and copies of it whose csmetrics.toml a test may change."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import DEMO_END, run_cli


def demo_workspace(factory: pytest.TempPathFactory) -> Path:
    """The demo workspace (80 customers, 8 months, seed 3), built on first use."""
    folder = factory.getbasetemp() / "report-demo"
    if not (folder / "ws" / "csmetrics.toml").exists():
        folder.mkdir(exist_ok=True)
        run_cli("demo", "--end", DEMO_END, "--customers", "80", "--months", "8", "--seed", "3",
                "--workspace", str(folder / "ws"))
    return folder / "ws"


def configured_copy(source: Path, target: Path, notify_and_schedules: str) -> Path:
    """A copy of the workspace ``source`` whose [notify] and [[schedule]] part of
    csmetrics.toml is replaced by ``notify_and_schedules``."""
    shutil.copytree(source, target)
    config = target / "csmetrics.toml"
    text = config.read_text(encoding="utf-8")
    text, count = re.subn(r"(?ms)^\[notify\]\n.*?(?=^\[targets\])",
                          lambda _: notify_and_schedules.rstrip() + "\n\n", text)
    assert count == 1, "the [notify] ... [targets] part of csmetrics.toml moved"
    config.write_text(text, encoding="utf-8")
    return target
