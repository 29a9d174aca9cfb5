"""A workspace built from the sample exports shipped in ``csmetrics/samples``, as a user builds it.

``build_sample_workspace(folder)`` runs the real CLI: ``csmetrics init``, then one
``csmetrics ingest <table> <sample> --mapping <toml>`` per export (customers first, so every
other file's customers are known). The company it gives: 60 customers of "Northwind Desk" (USD),
2025-01-01 to 2026-06-30, monthly and annual plans, upgrades, downgrades, churn, one
reactivation, invoices, tickets and NPS answers, no usage events (see make_samples.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli

#: The sample folder inside the package.
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "csmetrics" / "samples"
#: (canonical table, sample export), in load order; each has a mapping ``<stem>.toml`` beside it.
SAMPLE_FILES: list[tuple[str, str]] = [
    ("customers", "hubspot_companies.csv"),
    ("subscriptions", "stripe_subscriptions.csv"),
    ("orders", "stripe_invoices.csv"),
    ("tickets", "zendesk_tickets.csv"),
    ("survey_responses", "nps_responses.csv"),
]
#: The last day of the samples' data.
SAMPLE_END = "2026-06-30"


def sample(name: str) -> Path:
    """The path of a sample export (or mapping) shipped with csmetrics."""
    return SAMPLES / name


def mapping_for(export: str) -> Path:
    """The mapping file that goes with a sample export: same name, ``.toml``."""
    return SAMPLES / (Path(export).stem + ".toml")


def build_sample_workspace(folder: Path) -> Path:
    """Create a workspace in ``folder / "samples-ws"`` and load every sample export into it
    through the real CLI, each with its mapping; returns the workspace's path."""
    root = folder / "samples-ws"
    run_cli("init", str(root), "--name", "Northwind Desk", "--currency", "USD")
    for table, export in SAMPLE_FILES:
        run_cli("ingest", table, str(sample(export)), "--mapping", str(mapping_for(export)),
                "--workspace", str(root))
    return root
