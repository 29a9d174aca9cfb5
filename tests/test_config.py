"""csmetrics.toml: defaults, and errors that name the key and the fix."""

from __future__ import annotations

import pytest

from csmetrics import ConfigError, Settings, Workspace


def test_defaults():
    settings = Settings()
    assert settings.workspace.currency == "USD" and settings.workspace.timezone == "UTC"
    assert settings.engine.url == "duckdb:///csmetrics.duckdb"
    assert settings.fiscal.year_start_month == 1


def test_the_generated_config_reads_back_as_written(tmp_path):
    ws = Workspace.init(tmp_path / "w", name='Acme "EU"', currency="EUR", timezone="Europe/Paris")
    ws.close()
    again = Workspace.load(tmp_path / "w")
    assert again.settings.workspace.currency == "EUR"
    assert again.settings.workspace.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[workspace]\ncurency = "EUR"\n', "workspace.curency: unknown key"),
        ('[workspace]\ncurrency = "euro"\n', "workspace.currency = 'euro': must be a three-letter"),
        ('[workspace]\ntimezone = "Mars/Olympus"\n', "is not an IANA time zone"),
        ("[fiscal]\nyear_start_month = 13\n", "fiscal.year_start_month = 13"),
        ('[engine]\nthreads = "many"\n', "engine.threads = 'many'"),
        ("[workspace\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "csmetrics.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Workspace.load(tmp_path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_unsupported_engine_url_is_explained(tmp_path):
    (tmp_path / "csmetrics.toml").write_text('[engine]\nurl = "oracle://db"\n')
    with pytest.raises(ValueError, match="duckdb:///csmetrics.duckdb"):
        _ = Workspace.load(tmp_path).warehouse


def test_workspace_is_found_from_a_subfolder(tmp_path):
    Workspace.init(tmp_path / "w").close()
    (tmp_path / "w" / "exports" / "2024").mkdir(parents=True)
    found = Workspace.find(start=tmp_path / "w" / "exports" / "2024")
    assert found.root == (tmp_path / "w").resolve()
