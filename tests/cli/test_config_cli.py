"""``pacslink config show``: every effective setting, its value and its source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pacslink.cli.main import app
from pacslink.config import SETTINGS


def show_json(home: Path, *options: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, [*options, "--home", str(home), "config", "show", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in data["settings"]}


def test_defaults_as_json(tmp_path: Path) -> None:
    data = show_json(tmp_path)
    assert data["config_file"] == str(tmp_path / "pacslink.toml")
    assert data["config_file_exists"] is False
    rows = by_name(data)
    assert list(rows) == [setting.name for setting in SETTINGS]
    assert rows["home"] == {
        "name": "home",
        "value": str(tmp_path),
        "source": "flag",
        "origin": "--home",
        "type": "Path",
        "default": "platformdirs.user_data_dir('pacslink')",
        "env": "PACSLINK_HOME",
        "flag": "--home",
        "help": SETTINGS[0].help,
    }
    assert rows["port"]["value"] == 11112 and rows["port"]["source"] == "default"
    assert rows["port"]["origin"] is None
    assert rows["ae_title"]["env"] == "PACSLINK_AET"
    assert (rows["port"]["type"], rows["port"]["default"]) == ("int", "11112")
    assert (rows["duplicates"]["type"], rows["duplicates"]["default"]) == (
        "DuplicatePolicy",
        "keep",
    )
    assert rows["store_dir"]["default"] == "<home>/store"
    assert rows["duplicates"]["value"] == "keep"
    assert rows["store_dir"]["value"] == str(tmp_path / "store")
    assert rows["db_url"]["value"] == f"sqlite:///{tmp_path}/index.sqlite"


def test_sources_file_env_flag(tmp_path: Path) -> None:
    path = tmp_path / "pacslink.toml"
    path.write_text('[settings]\nport = 2000\nae_title = "FILEAE"\nbind = "0.0.0.0"\n')
    env = {
        "PACSLINK_PORT": "3000",
        "PACSLINK_DB_URL": "postgresql+psycopg://pacs:secret@db/pacslink",
    }
    data = show_json(tmp_path, "-v", env=env)
    assert data["config_file_exists"] is True
    rows = by_name(data)
    assert (rows["ae_title"]["value"], rows["ae_title"]["source"]) == ("FILEAE", "file")
    assert rows["ae_title"]["origin"] == str(path)
    assert (rows["port"]["value"], rows["port"]["source"]) == (3000, "env")
    assert rows["port"]["origin"] == "PACSLINK_PORT"
    assert rows["bind"]["value"] == "0.0.0.0"
    assert rows["log_level"] == {
        **rows["log_level"],
        "value": "INFO",
        "source": "flag",
        "origin": "--verbose",
    }
    assert rows["db_url"]["value"] == "postgresql+psycopg://pacs:***@db/pacslink"


def test_home_from_environment(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["config", "show", "--json"], env={"PACSLINK_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    home = by_name(json.loads(result.stdout))["home"]
    assert (home["value"], home["source"], home["origin"]) == (
        str(tmp_path),
        "env",
        "PACSLINK_HOME",
    )


def test_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "config", "show"], env={"PACSLINK_PORT": "4000"}
    )
    assert result.exit_code == 0, result.output
    assert (
        f"Settings file: {tmp_path / 'pacslink.toml'} (not present: defaults apply)"
        in result.stdout
    )
    for text in (
        "Setting",
        "Value",
        "Source",
        "ae_title",
        "PACSLINK",
        "4000",
        "env PACSLINK_PORT",
        "flag --home",
        "default",
    ):
        assert text in result.stdout


def test_invalid_values_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["--home", str(tmp_path), "config", "show"], env={"PACSLINK_PORT": "abc"}
    )
    assert result.exit_code == 2
    assert result.stderr == "error: PACSLINK_PORT: must be an integer 1-65535, got 'abc'\n"
    assert "Traceback" not in result.output
    path = tmp_path / "pacslink.toml"
    path.write_text("[settings]\nport = 70000\n")
    result = runner.invoke(app, ["--home", str(tmp_path), "config", "show"])
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: {path}: [settings] port: must be an integer 1-65535, got 70000\n"
    )


def test_config_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "config", "path"])
    assert result.exit_code == 0
    assert result.stdout == f"{tmp_path / 'pacslink.toml'}\n"
