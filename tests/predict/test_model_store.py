"""Trained models in the app store (``_models``): a model trained on one server scores on
another that shares the app store, each training adds a version (the newest three kept), and a
model saved before, as files only, still loads.

The app store is a DuckDB file of its own or a new PostgreSQL database (``tests/pg.py``); the
company is the planted one of ``tests/predict/churn_fixtures.py``. Times come from the test
clock (``TEST_NOW``, tests/conftest.py).
"""

from __future__ import annotations

import json
import platform
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.predict.churn import (
    KEEP_VERSIONS,
    ChurnModel,
    load_model,
    save_model,
    saved_model,
    train,
)
from csmetrics.predict.features import features_as_of
from csmetrics.store import Warehouse
from csmetrics.store.appstore import AppConnection, open_app_store
from tests.conftest import run_cli
from tests.pg import app_workspace, new_database
from tests.predict.churn_fixtures import planted

S = Settings()
TRAINED_AT = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)  # TEST_NOW: when train() ran


@pytest.fixture(scope="module")
def company() -> Warehouse:
    return planted(customers=120)


@pytest.fixture(scope="module")
def model(company: Warehouse) -> ChurnModel:
    return train(company.ibis, S, horizon_days=90, seed=0, max_cutoffs=8)


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """An empty app store: a DuckDB file of its own (relative to the test's folder), or a new
    PostgreSQL database."""
    if request.param == "postgres":
        return new_database(request.getfixturevalue("postgres_url"))
    return "duckdb:///app.duckdb"


@pytest.fixture
def app(store_url: str, tmp_path: Path) -> Iterator[AppConnection]:
    con = open_app_store(store_url, tmp_path, "UTC")
    yield con
    con.close()


def _versions(app: AppConnection) -> list[tuple[object, ...]]:
    return app.execute("SELECT version, trained_by, trained_at FROM _models WHERE name = ? "
                       "ORDER BY version", ["churn"]).fetchall()


# -- the model in the app store -------------------------------------------------------------


def test_a_saved_model_is_one_version_in_the_app_store_beside_its_files(
        app: AppConnection, tmp_path: Path, company: Warehouse, model: ChurnModel) -> None:
    save_model(model, tmp_path / "a", app, trained_by="ana@one")
    assert _versions(app) == [(1, "ana@one", TRAINED_AT)]
    files = tmp_path / "a" / "models"
    (metadata, artifact), = app.execute("SELECT metadata, artifact FROM _models").fetchall()
    # the same text as churn.json, the same bytes as churn.joblib (BLOB / BYTEA round trip)
    assert metadata == (files / "churn.json").read_text(encoding="utf-8")
    assert bytes(artifact) == (files / "churn.joblib").read_bytes()

    # another workspace, without the files, reads it from the app store
    loaded = load_model(tmp_path / "b", company.ibis, app)
    assert not (tmp_path / "b" / "models").exists()
    assert loaded.metadata == json.loads(metadata)
    frame = features_as_of(company.ibis, S, date(2024, 9, 1))
    assert np.array_equal(loaded.predict(frame), model.predict(frame))


def test_each_training_adds_a_version_and_the_newest_three_are_kept(
        app: AppConnection, tmp_path: Path, model: ChurnModel) -> None:
    assert KEEP_VERSIONS == 3
    for n in range(1, 5):
        save_model(model, tmp_path, app, trained_by=f"ana@host{n}")
    assert _versions(app) == [(2, "ana@host2", TRAINED_AT), (3, "ana@host3", TRAINED_AT),
                              (4, "ana@host4", TRAINED_AT)]
    found = saved_model(tmp_path / "elsewhere", app)
    assert found is not None and found.origin == "the app store's _models (churn, version 4)"


def test_the_process_that_saved_it_is_recorded(app: AppConnection, tmp_path: Path,
                                               model: ChurnModel) -> None:
    save_model(model, tmp_path, app)
    (trained_by,), = app.execute("SELECT trained_by FROM _models").fetchall()
    assert trained_by.endswith("@" + platform.node())


def test_a_model_from_the_app_store_is_refused_like_one_from_the_files(
        app: AppConnection, tmp_path: Path, company: Warehouse, model: ChurnModel) -> None:
    save_model(model, tmp_path, app)
    meta = json.loads((tmp_path / "models" / "churn.json").read_text(encoding="utf-8"))
    meta["features"] = meta["features"][:-1]
    app.execute("UPDATE _models SET metadata = ? WHERE name = ? AND version = ?",
                [json.dumps(meta), "churn", 1])
    with pytest.raises(UserInputError, match=r"The saved churn model \(the app store's _models "
                                             r"\(churn, version 1\)\) was trained on other "
                                             r"features.*Retrain it"):
        load_model(tmp_path, company.ibis, app)

    meta = json.loads((tmp_path / "models" / "churn.json").read_text(encoding="utf-8"))
    meta["versions"]["scikit-learn"] = "0.1"
    app.execute("UPDATE _models SET metadata = ? WHERE name = ? AND version = ?",
                [json.dumps(meta), "churn", 1])
    with pytest.raises(UserInputError, match=r"made with scikit-learn 0\.1; this is"):
        load_model(tmp_path, company.ibis, app)


def test_without_a_model_anywhere_the_error_says_where_it_looked(
        app: AppConnection, tmp_path: Path, company: Warehouse) -> None:
    with pytest.raises(UserInputError, match=r"No churn model in the app store or "
                                             r".*models; train one with 'csmetrics predict "
                                             r"churn train'"):
        load_model(tmp_path, company.ibis, app)


def test_a_model_saved_before_as_files_only_still_loads_until_the_app_store_has_one(
        app: AppConnection, tmp_path: Path, company: Warehouse, model: ChurnModel) -> None:
    save_model(model, tmp_path)  # as csmetrics saved models before: the files alone
    assert _versions(app) == []
    found = saved_model(tmp_path, app)
    files = tmp_path / "models"
    assert found is not None
    assert found.origin == f"{files / 'churn.joblib'} and {files / 'churn.json'}"
    loaded = load_model(tmp_path, company.ibis, app)
    frame = features_as_of(company.ibis, S, date(2024, 9, 1))
    assert np.array_equal(loaded.predict(frame), model.predict(frame))

    save_model(model, tmp_path, app)  # the next training: the app store's version wins
    found = saved_model(tmp_path, app)
    assert found is not None and found.origin == "the app store's _models (churn, version 1)"


def test_two_servers_saving_at_once_get_two_versions(postgres_url: str, tmp_path: Path,
                                                     model: ChurnModel) -> None:
    url = new_database(postgres_url)
    servers = [open_app_store(url, tmp_path, "UTC") for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def save(n: int) -> None:
        start.wait()
        try:
            save_model(model, tmp_path / f"server{n}", servers[n], trained_by=f"s{n}@host")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    rows = _versions(servers[0])
    assert [version for version, _, _ in rows] == [1, 2]
    assert sorted(by for _, by, _ in rows) == ["s0@host", "s1@host"]
    for con in servers:
        con.close()


# -- through the workspace --------------------------------------------------------------------


def _workspace(folder: Path, company: Warehouse, app_url: str = "") -> Workspace:
    """A workspace holding the planted company, its app state at ``app_url``, learning from
    8 cutoffs (fewer than the default 12: a faster test, the same code path)."""
    Workspace.init(folder).close()
    config = folder / "csmetrics.toml"
    text = config.read_text(encoding="utf-8")
    assert "churn_cutoffs = 12" in text
    config.write_text(text.replace("churn_cutoffs = 12", "churn_cutoffs = 8"), encoding="utf-8")
    ws = app_workspace(folder, app_url)
    sql = ws.warehouse.sql
    for table in ("customers", "subscriptions", "tickets"):
        sql.register("__planted", company.sql.execute(f"SELECT * FROM {table}").df())
        sql.execute(f"INSERT INTO {table} SELECT * FROM __planted")
        sql.unregister("__planted")
    return ws


def test_a_model_trained_on_one_server_scores_on_another_sharing_postgres(
        tmp_path: Path, postgres_url: str, company: Warehouse) -> None:
    url = new_database(postgres_url)
    one, other = tmp_path / "one", tmp_path / "other"
    with _workspace(one, company, url) as first, _workspace(other, company, url) as second:
        trained = first.churn_train()
        assert not (other / "models").exists()
        theirs = second.churn_model()
        assert theirs.metadata == json.loads((one / "models" / "churn.json").read_text())
        assert repr(theirs) == repr(trained)
        pd.testing.assert_frame_equal(second.churn_scores(), first.churn_scores())
        assert second.app.execute("SELECT name, version FROM _models").fetchall() == [
            ("churn", 1)]
    # the other server's CLI shows the model's metadata
    report = json.loads(run_cli("predict", "churn", "report", "--format", "json",
                                "--workspace", str(other)).stdout)
    assert report["trained_at"] == trained.metadata["trained_at"] == "2026-07-15T10:00:00+00:00"
    assert report["scores"] == json.loads((one / "models" / "churn.json").read_text())["scores"]


def test_in_the_warehouse_the_model_outlives_its_files_and_old_files_still_load(
        tmp_path: Path, company: Warehouse) -> None:
    folder = tmp_path / "ws"
    files, aside = folder / "models", tmp_path / "aside"
    with _workspace(folder, company) as ws:
        ws.churn_train()
        # the default app store is the warehouse's own database
        assert ws.warehouse.sql.execute("SELECT name, version, metadata FROM _models"
                                        ).fetchall() == [
            ("churn", 1, (files / "churn.json").read_text(encoding="utf-8"))]
        shutil.move(files, aside)
        scores = ws.churn_scores()  # the app store's copy alone

        # a workspace trained before models were kept in the app store: the files alone
        shutil.move(aside, files)
        ws.warehouse.sql.execute("DELETE FROM _models")
        assert ws.churn_model().metadata == json.loads((files / "churn.json").read_text())
        pd.testing.assert_frame_equal(ws.churn_scores(), scores)
