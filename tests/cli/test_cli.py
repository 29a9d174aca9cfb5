"""The real ``csmetrics`` command, run in a subprocess as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CUSTOMERS_HEADER, CUSTOMERS_ROWS, run_cli, write_csv


def test_init_ingest_batches_status_end_to_end(tmp_path: Path):
    created = run_cli("init", "acme", "--name", "Acme", "--currency", "EUR",
                      "--timezone", "Europe/Berlin", cwd=tmp_path)
    assert "Created workspace" in created.stdout
    config = (tmp_path / "acme" / "csmetrics.toml").read_text()
    assert 'currency = "EUR"' in config and 'timezone = "Europe/Berlin"' in config
    customers = write_csv(tmp_path / "customers.csv", CUSTOMERS_HEADER, CUSTOMERS_ROWS)
    workspace = tmp_path / "acme"
    # found from the current folder, no --workspace needed
    loaded = run_cli("ingest", "customers", str(customers), cwd=workspace)
    assert ("customers: 3 rows read from 1 file(s); 3 inserted, 0 updated, 0 unchanged"
            in loaded.stdout)
    again = run_cli("ingest", "customers", str(customers), "--workspace", str(workspace))
    assert "0 inserted, 0 updated, 3 unchanged" in again.stdout
    listing = run_cli("batches", cwd=workspace)
    assert "customers" in listing.stdout and "upsert" in listing.stdout
    status = run_cli("status", "--workspace", str(workspace))
    assert "Acme" in status.stdout and "EUR" in status.stdout
    assert "customers" in status.stdout and " 3" in status.stdout


def test_a_refused_file_exits_2_with_the_problems_and_no_traceback(tmp_path: Path):
    run_cli("init", "ws", cwd=tmp_path)
    bad = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at"],
                    [["C1", "A", "2024-01-01"], ["C2", "B", "soon"]])
    result = run_cli("ingest", "customers", str(bad), "-w", str(tmp_path / "ws"), check=False)
    assert result.returncode == 2
    assert "1 problem in the batch for table 'customers'; nothing was loaded." in result.stderr
    assert "c.csv, line 3, column 'started_at': got 'soon', expected date" in result.stderr
    assert "Traceback" not in result.stderr
    status = run_cli("status", "-w", str(tmp_path / "ws"))
    assert "customers" in status.stdout


def test_no_workspace_is_explained(tmp_path: Path):
    result = run_cli("status", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "No csmetrics.toml" in result.stderr and "csmetrics init" in result.stderr


def test_init_refuses_to_overwrite(tmp_path: Path):
    run_cli("init", "ws", cwd=tmp_path)
    result = run_cli("init", "ws", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "already exists" in result.stderr


def test_schema_prints_columns_types_and_meaning():
    result = run_cli("schema", "subscriptions")
    for text in ("billing_interval", "week, month, quarter, year", "decimal amount",
                 "date (YYYY-MM-DD)", "key: subscription_id", "attributes"):
        assert text in result.stdout
    everything = run_cli("schema")
    for table in ("customers", "usage_events", "exchange_rates", "traffic", "costs"):
        assert table in everything.stdout


def test_schema_of_an_unknown_table_suggests_one():
    result = run_cli("schema", "ticket", check=False)
    assert result.returncode == 2 and "Did you mean 'tickets'?" in result.stderr


def test_mapping_from_the_command_line(tmp_path: Path):
    run_cli("init", "ws", cwd=tmp_path)
    export = write_csv(tmp_path / "export.csv", ["Account", "Account Name", "Since"],
                       [["A1", "Acme", "2024-01-05"]])
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\nAccount = "customer_id"\n"Account Name" = "name"\n'
                       'Since = "started_at"\n')
    result = run_cli("ingest", "customers", str(export), "--mapping", str(mapping),
                     "-w", str(tmp_path / "ws"))
    assert "1 inserted" in result.stdout


def test_batches_as_json_and_csv(tmp_path: Path):
    run_cli("init", "ws", cwd=tmp_path)
    customers = write_csv(tmp_path / "customers.csv", CUSTOMERS_HEADER, CUSTOMERS_ROWS)
    run_cli("ingest", "customers", str(customers), "-w", str(tmp_path / "ws"))
    import json

    listed = json.loads(run_cli("batches", "--format", "json", "-w", str(tmp_path / "ws")).stdout)
    assert len(listed) == 1
    assert {k: listed[0][k] for k in ("batch", "table", "files", "read", "inserted")} == {
        "batch": 1, "table": "customers", "files": "customers.csv", "read": 3, "inserted": 3}
    csv_text = run_cli("batches", "--format", "csv", "-w", str(tmp_path / "ws")).stdout
    assert csv_text.splitlines()[0].startswith("batch,table,mode,files,hash,read,inserted")


def test_users_and_tokens_from_the_command_line(tmp_path: Path):
    import os

    from csmetrics import Workspace
    from csmetrics.store.accounts import Accounts

    run_cli("init", "ws", cwd=tmp_path)
    ws = ["-w", str(tmp_path / "ws")]
    env = {**os.environ, "CSMETRICS_PASSWORD": "a-long-secret-1"}
    assert "Added ana (admin)" in run_cli("users", "add", "ana", "--role", "admin", *ws,
                                          env=env).stdout
    short = run_cli("users", "add", "bo", *ws, env={**os.environ, "CSMETRICS_PASSWORD": "x"},
                    check=False)
    assert short.returncode == 2 and "at least 10" in short.stderr
    token = run_cli("tokens", "create", "ana", "--name", "ci", *ws).stdout.strip().splitlines()[-1]
    assert token.startswith("csm_")
    listed = run_cli("tokens", "list", "--format", "json", *ws).stdout
    assert token not in listed and '"user": "ana"' in listed
    assert "role is now editor" in run_cli("users", "role", "ana", "editor", *ws).stdout
    new_password = {**os.environ, "CSMETRICS_PASSWORD": "another-secret-2"}
    assert "new password" in run_cli("users", "password", "ana", *ws, env=new_password).stdout
    run_cli("users", "disable", "ana", *ws)
    assert "Enabled ana" in run_cli("users", "enable", "ana", *ws).stdout
    users = run_cli("users", "list", "--format", "json", *ws).stdout
    assert '"role": "editor"' in users and '"disabled": false' in users
    with Workspace.load(tmp_path / "ws") as opened:
        accounts = Accounts(opened.warehouse.sql)
        assert accounts.authenticate("ana", "another-secret-2") is not None
        assert accounts.authenticate("ana", "a-long-secret-1") is None
    unknown = run_cli("users", "role", "nobody", "viewer", *ws, check=False)
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
    run_cli("users", "remove", "ana", *ws)
    assert "ana" not in run_cli("users", "list", "--format", "json", *ws).stdout
    assert "[]" in run_cli("tokens", "list", "--format", "json", *ws).stdout
