"""Canonical tables as views over a company's own tables (``store/sources.py``) on DuckDB.

The demo company is ingested into one workspace as usual; a second workspace holds the same
rows in its own schema ``crm``, under other table and column names, and maps them with a
``tables.toml`` (a rename, an SQL query, plain names). The metrics must come out the same,
and every rule ingest applies must find a row planted to break it, naming its key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.errors import ConfigError, UserInputError
from csmetrics.metrics import all_metrics
from csmetrics.schema import TABLES
from csmetrics.store.sources import (
    attach,
    check,
    problems_error,
    read_sources,
    require_valid,
)
from tests.conftest import DEMO_END_DAY, run_cli

#: Their customers table: our columns renamed; their subscriptions: amounts as text named
#: price, read through SQL; every other table under its own name in their schema ``crm``.
MAPPING = "".join(f'{name} = "crm.{name}"\n' for name in TABLES
                  if name not in ("customers", "subscriptions")) + """
[customers]
table = "crm.accounts"
columns = { customer_id = "account_id", name = "account_name" }

[subscriptions]
sql = "SELECT * EXCLUDE (price), price AS amount FROM crm.subs"
"""
THEIR_NAMES = {"customers": "accounts", "subscriptions": "subs"}


def _their_tables(source: Workspace, target: Workspace) -> None:
    """``source``'s canonical rows copied into ``target``'s schema ``crm``, as a company's
    own tables would be: other names for the customers table and two of its columns."""
    con = target.warehouse.sql
    con.execute("CREATE SCHEMA IF NOT EXISTS crm")
    for name in TABLES:
        rows = source.warehouse.sql.sql(f'SELECT * FROM "{name}"').to_arrow_table()  # noqa: F841
        theirs = THEIR_NAMES.get(name, name)
        con.execute(f'CREATE OR REPLACE TABLE crm."{theirs}" AS SELECT * FROM rows')
    con.execute("ALTER TABLE crm.accounts RENAME customer_id TO account_id")
    con.execute("ALTER TABLE crm.accounts RENAME name TO account_name")
    con.execute("ALTER TABLE crm.subs ALTER amount TYPE VARCHAR")
    con.execute("ALTER TABLE crm.subs RENAME amount TO price")


def _mapped(root: Path, source: Workspace, mapping: str = MAPPING) -> Workspace:
    ws = Workspace.init(root, name="Mapped Co")
    _their_tables(source, ws)
    (root / "tables.toml").write_text(mapping, encoding="utf-8")
    config = root / "csmetrics.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[engine]\n", '[engine]\ntables = "tables.toml"\n', 1), encoding="utf-8")
    ws.close()
    mapped = Workspace.load(root)
    attach(mapped.warehouse.ibis, mapped.settings.engine, mapped.root)
    return mapped


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The demo company loaded the usual way."""
    root = tmp_path_factory.mktemp("sources")
    files = write_company(root / "files", customers=30, months=6, seed=5, end=DEMO_END_DAY)
    with Workspace.init(root / "ingested", name="Mapped Co") as ws:
        for table, paths in files.items():
            ws.ingest(table, paths)
        yield ws


@pytest.fixture(scope="module")
def mapped(ingested: Workspace, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Workspace]:
    """The same rows as the company's own tables, mapped by ``MAPPING``."""
    ws = _mapped(tmp_path_factory.mktemp("mapped") / "ws", ingested)
    yield ws
    ws.close()


def test_views_have_the_canonical_columns_and_types(ingested: Workspace, mapped: Workspace
                                                    ) -> None:
    for name in TABLES:
        assert mapped.warehouse.ibis.table(name).schema() == \
            ingested.warehouse.ibis.table(name).schema(), name
    # the view, not the empty canonical table of the same name, is what a query reads
    assert mapped.warehouse.count("customers") == ingested.warehouse.count("customers") == 30


def test_mapped_tables_give_the_metrics_of_ingested_ones(ingested: Workspace,
                                                         mapped: Workspace) -> None:
    names = [m.name for m in all_metrics()]
    request = {"period": "month", "start": date(2026, 1, 1), "end": DEMO_END_DAY}
    expected = ingested.query(names, **request)
    got = mapped.query(names, **request)
    assert len(expected) > len(names)  # every metric, several months
    pd.testing.assert_frame_equal(got, expected)
    by_plan = {"by": "plan", **request}
    pd.testing.assert_frame_equal(mapped.query(["mrr", "customer_churn_rate"], **by_plan),
                                  ingested.query(["mrr", "customer_churn_rate"], **by_plan))


def test_clean_sources_pass_every_check(mapped: Workspace) -> None:
    sources = read_sources(mapped.root / "tables.toml")
    assert check(mapped.warehouse.ibis, sources) == []
    require_valid(mapped.warehouse.ibis, sources)  # does not raise


# -- each rule finds its planted row -----------------------------------------------------------


@pytest.fixture
def broken(ingested: Workspace, tmp_path: Path) -> Iterator[Workspace]:
    """A mapped workspace whose rows can be spoiled one at a time."""
    ws = _mapped(tmp_path / "ws", ingested)
    yield ws
    ws.close()


def _only_problem(ws: Workspace, sql: str, window: tuple[date, date] | None = None
                  ) -> tuple[str, str | None, str, int, tuple[tuple[str, str | None], ...]]:
    ws.warehouse.sql.execute(sql).fetchall()
    sources = read_sources(ws.root / "tables.toml")
    problems = check(ws.warehouse.ibis, sources, *([window] if window else []))
    assert len(problems) == 1, problems
    (p,) = problems
    return p.table, p.column, p.expected, p.count, p.examples


def _first_subscription(ws: Workspace) -> str:
    return str(ws.warehouse.sql.execute(
        "SELECT min(subscription_id) FROM crm.subs").fetchall()[0][0])


def test_a_value_that_does_not_cast_is_reported_with_its_key(broken: Workspace) -> None:
    sub = _first_subscription(broken)
    assert _only_problem(broken, f"UPDATE crm.subs SET price = 'ten' WHERE subscription_id "
                         f"= '{sub}'") == (
        "subscriptions", "amount", "decimal amount", 1, ((sub, "ten"),))


def test_a_required_value_missing(broken: Workspace) -> None:
    sub = _first_subscription(broken)
    assert _only_problem(broken, f"UPDATE crm.subs SET plan = NULL WHERE subscription_id "
                         f"= '{sub}'")[:4] == (
        "subscriptions", "plan", "a value: the column is required", 1)


def test_a_repeated_key_lists_the_key(broken: Workspace) -> None:
    sub = _first_subscription(broken)
    problem = _only_problem(broken, f"INSERT INTO crm.subs SELECT * FROM crm.subs WHERE "
                            f"subscription_id = '{sub}'")
    assert problem[:2] == ("subscriptions", "subscription_id")
    assert problem[3:] == (1, ((sub, "2 rows"),))


def test_a_value_not_allowed(broken: Workspace) -> None:
    sub = _first_subscription(broken)
    # 'Month ' is read as 'month' (trimmed, ignoring case), as ingest reads it; 'monthly' is not
    broken.warehouse.sql.execute("UPDATE crm.subs SET billing_interval = 'Month ' WHERE "
                                 f"subscription_id <> '{sub}' AND billing_interval = 'month'")
    assert _only_problem(broken, f"UPDATE crm.subs SET billing_interval = 'monthly' WHERE "
                         f"subscription_id = '{sub}'") == (
        "subscriptions", "billing_interval", "one of week, month, quarter, year", 1,
        ((sub, "monthly"),))


def test_a_date_outside_the_window(broken: Workspace) -> None:
    sub = _first_subscription(broken)
    table, column, expected, count, examples = _only_problem(
        broken, f"UPDATE crm.subs SET start_date = DATE '1899-12-31', end_date = NULL WHERE "
        f"subscription_id = '{sub}'")
    assert (table, column, count, examples) == (
        "subscriptions", "start_date", 1, ((sub, "1899-12-31"),))
    assert expected.startswith("a date from 1900-01-01 to 2100-12-31")


def test_a_narrower_window_finds_the_later_dates(broken: Workspace) -> None:
    """A window ending 2026-05-31 (``[ingest] latest_date``) finds June's orders."""
    june = broken.warehouse.sql.execute(
        "SELECT count(*), min(order_id) FROM crm.orders WHERE ordered_at >= '2026-06-01'"
    ).fetchall()[0]
    assert june[0] > 0
    sources = read_sources(broken.root / "tables.toml")
    problems = check(broken.warehouse.ibis, sources, (date(2000, 1, 1), date(2026, 5, 31)))
    (orders,) = [p for p in problems if p.table == "orders"]
    assert (orders.column, orders.count, orders.examples[0][0]) == (
        "ordered_at", june[0], june[1])
    assert orders.expected.startswith("a date from 2000-01-01 to 2026-05-31")


def test_a_row_of_an_unknown_customer(broken: Workspace) -> None:
    order = broken.warehouse.sql.execute("SELECT min(order_id) FROM crm.orders").fetchall()[0][0]
    assert _only_problem(broken, f"UPDATE crm.orders SET customer_id = 'nobody' WHERE "
                         f"order_id = '{order}'") == (
        "orders", "customer_id", "a customer_id that exists in customers (map or load that "
        "customer, or leave the value empty)", 1, ((order, "nobody"),))


def test_a_negative_amount_and_an_end_before_the_start(broken: Workspace) -> None:
    sub = _first_subscription(broken)
    broken.warehouse.sql.execute(f"UPDATE crm.subs SET price = '-5' WHERE subscription_id "
                                 f"= '{sub}'")
    sources = read_sources(broken.root / "tables.toml")
    assert [(p.column, p.expected, p.examples) for p in check(broken.warehouse.ibis, sources)
            ] == [("amount", "a value of at least 0", ((sub, "-5"),))]
    broken.warehouse.sql.execute(f"UPDATE crm.subs SET price = '5', end_date = start_date - 1 "
                                 f"WHERE subscription_id = '{sub}'")
    assert [(p.column, p.examples[0][0]) for p in check(broken.warehouse.ibis, sources)
            ] == [("end_date", sub)]


def test_many_bad_rows_show_the_first_keys_and_count_the_rest(broken: Workspace) -> None:
    broken.warehouse.sql.execute("UPDATE crm.subs SET price = 'n/a'")
    total = broken.warehouse.count("subscriptions")
    sources = read_sources(broken.root / "tables.toml")
    problems = check(broken.warehouse.ibis, sources)
    assert [(p.column, p.count, len(p.examples)) for p in problems] == [("amount", total, 5)]
    keys = [k for k, _ in problems[0].examples]
    assert keys == sorted(keys)
    text = str(problems_error("subscriptions", problems, sources))
    assert text.splitlines()[0] == (
        f"{total} problems in table 'subscriptions', mapped in tables.toml [subscriptions] "
        "(SQL):")
    assert f"tables.toml [subscriptions] (SQL), subscription_id '{keys[0]}', column 'amount': " \
        "got 'n/a', expected decimal amount" in text
    assert f"{total - 5} more rows break this rule" in text
    with pytest.raises(UserInputError, match=r"subscriptions \d+\); nothing was computed\. "
                       r"Run 'csmetrics tables check'"):
        require_valid(broken.warehouse.ibis, sources)


def test_tables_check_command(broken: Workspace) -> None:
    root = broken.root
    sub = _first_subscription(broken)
    broken.close()
    ok = run_cli("tables", "check", "--workspace", str(root))
    assert "tables.toml [customers] (crm.accounts): no problems" in ok.stdout
    with Workspace.load(root) as ws:
        ws.warehouse.sql.execute(f"UPDATE crm.subs SET plan = NULL WHERE subscription_id "
                                 f"= '{sub}'").fetchall()
    bad = run_cli("tables", "check", "--workspace", str(root), check=False)
    assert bad.returncode == 1, bad.stderr
    assert (f"tables.toml [subscriptions] (SQL), subscription_id '{sub}', column 'plan': a "
            "value: the column is required") in " ".join(bad.stdout.split())


# -- the mapping file --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ('custmers = "crm.accounts"\n',
     r"tables\.toml: 'custmers' is not a canonical table\. Did you mean 'customers'\?"),
    ('[customers]\ntable = "crm.accounts"\nsql = "SELECT 1"\n',
     r"customers: give either table = .* or sql = .* \(exactly one of them\)"),
    ('[customers]\ntable = "crm.accounts"\ncolums = { name = "n" }\n',
     r"customers\.colums: unknown key; a table takes table, sql and columns\."),
    ('[customers]\ntable = "crm.accounts"\norders = "crm.orders"\n',
     r"customers\.orders: unknown key.* Is \[orders\] meant\? Write 'name = \"\.\.\.\"' lines "
     r"before the first \[table\] heading"),
    ('[customers]\ntable = "crm.accounts"\ncolumns = { custmer_id = "account_id" }\n',
     r"customers\.columns\.custmer_id: customers has no column 'custmer_id'\. Did you mean "
     r"'customer_id'\?"),
    ("customers = 3\n", r"customers = 3: Input should be a valid string\."),
])
def test_a_bad_mapping_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tables.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_sources(path)


@pytest.mark.parametrize(("mapping", "message"), [
    ('customers = "crm.acounts"\n',
     r"tables\.toml \[customers\] \(crm\.acounts\): 'crm\.acounts' cannot be read on the "
     r"engine: .*Fix the table name"),
    ('[customers]\ntable = "crm.accounts"\ncolumns = { customer_id = "acount_id" }\n',
     r"columns\.customer_id = 'acount_id', but the rows have no column 'acount_id'\. Did you "
     r"mean 'account_id'\?"),
    ('customers = "crm.accounts"\n',
     r"no column 'customer_id' \(required for customers\).*columns = \{ customer_id = "),
    ('[orders]\nsql = "SELECT * FROM crm.nothing"\n',
     r"tables\.toml \[orders\] \(SQL\): the query fails on the engine: .*Fix the sql"),
])
def test_a_mapping_the_engine_cannot_read_names_the_key(
        ingested: Workspace, tmp_path: Path, mapping: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        _mapped(tmp_path / "ws", ingested, mapping).close()


def test_a_refresh_after_their_tables_changed_is_full_and_sees_the_change(
        ingested: Workspace, tmp_path: Path) -> None:
    # their tables change outside csmetrics' load ledger, so an incremental refresh, which
    # recomputes only what the ledger's batches touched, would keep the old results
    ws = _mapped(tmp_path / "ws", ingested)
    try:
        assert ws.refresh(grains=["month"])["mode"] == "full"
        month = DEMO_END_DAY.replace(day=1)

        def stored_mrr() -> float:
            rows = ws.metric_values()
            rows = rows[(rows.metric == "mrr") & (rows.segment_by == "")
                        & (pd.to_datetime(rows.period_start).dt.date == month)]
            return float(rows.value.iloc[0])

        before = stored_mrr()
        ws.warehouse.sql.execute(
            "INSERT INTO crm.subs SELECT * REPLACE ('upsell-9' AS subscription_id, '1000' AS "
            "price, 1 AS quantity, 0 AS discount, ? AS start_date, NULL AS end_date, NULL AS "
            "canceled_at, NULL AS past_due_since, 'USD' AS currency) FROM crm.subs "
            "WHERE billing_interval = 'month' ORDER BY subscription_id LIMIT 1", [month])
        run = ws.refresh(grains=["month"])
        assert run["mode"] == "full" and "your own tables" in str(run["reason"])
        assert stored_mrr() == pytest.approx(before + 1000)
    finally:
        ws.close()
