"""The registry is complete and well-formed: every name in METRICS.md is a metric."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from csmetrics.metrics import all_metrics, get_metric
from csmetrics.metrics.definition import Section

METRICS_MD = Path(__file__).parents[3] / "shared" / "METRICS.md"
SECTIONS_COVERED = {s.value for s in Section}


def names_in_metrics_md() -> set[str]:
    """Backticked names in the 'name' column of METRICS.md's tables (bar the health score
    and the probabilistic CLV, which are other issues)."""
    names: set[str] = set()
    section = ""
    for line in METRICS_MD.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].split("(")[0].strip()
        if line.startswith("|") and section in SECTIONS_COVERED:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) >= 2:
                names.update(re.findall(r"`([a-z0-9_]+)`", cells[1]))
    return names


@pytest.mark.skipif(not METRICS_MD.exists(), reason="shared/METRICS.md is not beside the repo")
def test_every_metric_of_metrics_md_is_registered():
    expected = names_in_metrics_md()
    assert len(expected) > 50
    # "Churn by owner" is written (`customer_churn_rate` by `owner`): a segment, not a metric
    missing = expected - {m.name for m in all_metrics()} - {"owner"}
    assert not missing, f"in METRICS.md but not in the registry: {sorted(missing)}"


def test_definitions_are_complete():
    seen = set()
    for m in all_metrics():
        assert m.name not in seen
        seen.add(m.name)
        assert m.title and m.description and m.formula and m.tables, m.name
        assert len(m.description) > 40, m.name
        assert get_metric(m.name) is m


def test_unknown_metric_suggests_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'nps'"):
        get_metric("npss")
