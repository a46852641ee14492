"""``pacslink ae``: add, list, edit, remove through the real Typer app, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pacslink.aeregistry import AERegistry
from pacslink.cli.main import app


@pytest.fixture
def pacslink(tmp_path: Path) -> CliRunnerWithHome:
    return CliRunnerWithHome(tmp_path)


class CliRunnerWithHome:
    """Runs ``pacslink --home <tmp> ...`` in process."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--home", str(self.home), *args])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def fails(self, *args: str, code: int = 2) -> str:
        """Run a failing command; return its one-line error message."""
        result = self(*args)
        assert result.exit_code == code, (result.stdout, result.stderr)
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return lines[0].removeprefix("error: ")


def test_add_list_edit_remove_round_trip(pacslink: CliRunnerWithHome) -> None:
    result = pacslink.ok(
        "ae", "add", "PACS1", "--aet", "ORTHANC", "--host", "127.0.0.1", "--port", "4242"
    )
    assert result.stdout == "Added PACS1 (ORTHANC@127.0.0.1:4242). Try: pacslink echo PACS1\n"
    pacslink.ok(
        "ae",
        "add",
        "US1",
        "--aet",
        "USROOM",
        "--host",
        "::1",
        "--port",
        "104",
        "--description",
        "Ultrasound [room 2]",
        "--retrieve",
        "get",
    )
    listed = json.loads(pacslink.ok("ae", "list", "--json").stdout)
    assert listed == [
        {
            "name": "PACS1",
            "ae_title": "ORTHANC",
            "host": "127.0.0.1",
            "port": 4242,
            "retrieve": "auto",
            "description": "",
            "address": "ORTHANC@127.0.0.1:4242",
            "tls": False,
        },
        {
            "name": "US1",
            "ae_title": "USROOM",
            "host": "::1",
            "port": 104,
            "retrieve": "get",
            "description": "Ultrasound [room 2]",
            "address": "USROOM@[::1]:104",
            "tls": False,
        },
    ]
    table = pacslink.ok("ae", "list").stdout
    for text in (
        "Name",
        "AE title",
        "PACS1",
        "ORTHANC",
        "127.0.0.1",
        "4242",
        "USROOM",
        "Ultrasound [room 2]",
    ):
        assert text in table

    result = pacslink.ok("ae", "edit", "PACS1", "--port", "4243", "--retrieve", "move")
    assert result.stdout == (
        "Updated PACS1 (ORTHANC@127.0.0.1:4243): port 4242 -> 4243; retrieve auto -> move.\n"
    )
    result = pacslink.ok("ae", "edit", "pacs1", "--rename", "MAIN", "--aet", "ORTHANC2")
    assert result.stdout == (
        "Updated MAIN (ORTHANC2@127.0.0.1:4243): name PACS1 -> MAIN; "
        "AE title ORTHANC -> ORTHANC2.\n"
    )
    listed = json.loads(pacslink.ok("ae", "list", "--json").stdout)
    assert [(ae["name"], ae["port"], ae["retrieve"]) for ae in listed] == [
        ("MAIN", 4243, "move"),
        ("US1", 104, "get"),
    ]

    assert pacslink.ok("ae", "remove", "US1").stdout == "Removed US1 (USROOM@[::1]:104).\n"
    assert pacslink.ok("ae", "remove", "MAIN").stdout == "Removed MAIN (ORTHANC2@127.0.0.1:4243).\n"
    assert json.loads(pacslink.ok("ae", "list", "--json").stdout) == []
    assert "No remote AEs configured yet" in pacslink.ok("ae", "list").stdout


def test_tls_flag_is_kept_in_the_file_shown_and_edited(pacslink: CliRunnerWithHome) -> None:
    pacslink.ok("ae", "add", "SECURE", "--aet", "PACS", "--host", "localhost", "--port", "2762",
                "--tls")
    pacslink.ok("ae", "add", "PLAIN", "--aet", "PACS", "--host", "localhost", "--port", "104")
    path = pacslink.home / "pacslink.toml"
    text = path.read_text()
    assert ('[ae.SECURE]\naet = "PACS"\nhost = "localhost"\nport = 2762\nretrieve = "auto"\n'
            'tls = true\n') in text
    assert text.count("tls") == 1  # the default (false) is not written
    listed = json.loads(pacslink.ok("ae", "list", "--json").stdout)
    assert [(ae["name"], ae["tls"]) for ae in listed] == [("SECURE", True), ("PLAIN", False)]
    table = pacslink.ok("ae", "list").stdout
    assert "TLS" in table and "yes" in table
    result = pacslink.ok("ae", "edit", "SECURE", "--no-tls")
    assert result.stdout == "Updated SECURE (PACS@localhost:2762): TLS on -> off.\n"
    assert "tls" not in path.read_text()
    result = pacslink.ok("ae", "edit", "PLAIN", "--tls")
    assert result.stdout == "Updated PLAIN (PACS@localhost:104): TLS off -> on.\n"
    assert AERegistry.for_home(pacslink.home).get("PLAIN").tls is True


def test_file_is_written_in_the_home(pacslink: CliRunnerWithHome) -> None:
    pacslink.ok("ae", "add", "PACS1", "--aet", " ORTHANC ", "--host", "localhost", "--port", "4242")
    text = (pacslink.home / "pacslink.toml").read_text()
    assert '[ae.PACS1]\naet = "ORTHANC"\nhost = "localhost"\nport = 4242\n' in text


def test_hand_written_comments_survive_the_commands(pacslink: CliRunnerWithHome) -> None:
    path = pacslink.home / "pacslink.toml"
    path.write_text('# mine\n[ae.PACS1]  # keep me\naet = "A"\nhost = "h"\nport = 1  # and me\n')
    pacslink.ok("ae", "add", "PACS2", "--aet", "B", "--host", "h", "--port", "2")
    pacslink.ok("ae", "edit", "PACS1", "--port", "3")
    pacslink.ok("ae", "remove", "PACS2")
    assert (
        path.read_text()
        == '# mine\n[ae.PACS1]  # keep me\naet = "A"\nhost = "h"\nport = 3  # and me\n'
    )


def test_errors_are_one_line_with_a_nonzero_exit(pacslink: CliRunnerWithHome) -> None:
    add = ("ae", "add", "PACS1", "--aet", "ORTHANC", "--host", "127.0.0.1", "--port", "4242")
    pacslink.ok(*add)
    message = pacslink.fails(*add)
    assert message.startswith("a remote AE named 'PACS1' already exists in ")
    assert message.endswith("; choose another name or change it with `pacslink ae edit PACS1`")

    message = pacslink.fails(
        "ae", "add", "X", "--aet", "ABCDEFGHIJKLMNOPQ", "--host", "h", "--port", "1"
    )
    assert message == (
        "--aet: AE title 'ABCDEFGHIJKLMNOPQ' is 17 characters long; the maximum is 16 "
        "(PS3.5 6.2), e.g. 'ABCDEFGHIJKLMNOP'"
    )
    message = pacslink.fails("ae", "add", "X", "--aet", "A\\B", "--host", "h", "--port", "1")
    assert "contains a backslash" in message
    message = pacslink.fails("ae", "add", "X", "--aet", "A", "--host", "h", "--port", "abc")
    assert message == "--port: must be an integer 1-65535, got 'abc'"
    message = pacslink.fails("ae", "add", "X", "--aet", "A", "--host", "h", "--port", "70000")
    assert message == "--port: must be an integer 1-65535, got '70000'"
    message = pacslink.fails("ae", "add", "X", "--aet", "A", "--host", "bad host", "--port", "1")
    assert message.startswith("--host: must be a host name or IP address")
    message = pacslink.fails("ae", "add", "bad/name", "--aet", "A", "--host", "h", "--port", "1")
    assert "AE name 'bad/name' is not valid" in message

    message = pacslink.fails("ae", "edit", "NOPE", "--port", "1")
    assert message == "no remote AE named 'NOPE'; known: PACS1 (see `pacslink ae list`)"
    message = pacslink.fails("ae", "remove", "PACS2")
    assert message == (
        "no remote AE named 'PACS2'; did you mean 'PACS1'? known: PACS1 (see `pacslink ae list`)"
    )
    message = pacslink.fails("ae", "edit", "PACS1")
    assert message.startswith("nothing to change: give at least one of --aet")
    assert len(json.loads(pacslink.ok("ae", "list", "--json").stdout)) == 1


def test_invalid_file_is_reported_with_path_table_and_key(pacslink: CliRunnerWithHome) -> None:
    path = pacslink.home / "pacslink.toml"
    path.write_text('[ae.PACS1]\naet = "A"\nhost = "h"\nport = 70000\n')
    message = pacslink.fails("ae", "list")
    assert message == f"{path}: [ae.PACS1] port: must be an integer 1-65535, got 70000"


def test_usage_errors_exit_2(pacslink: CliRunnerWithHome) -> None:
    result = pacslink("ae", "add", "PACS1", "--host", "h", "--port", "1")
    assert result.exit_code == 2
    assert "--aet" in result.output
    result = pacslink(
        "ae", "add", "P", "--aet", "A", "--host", "h", "--port", "1", "--retrieve", "copy"
    )
    assert result.exit_code == 2


def test_traceback_only_with_vv(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--home", str(tmp_path), "ae", "remove", "NOPE"]
    quiet = runner.invoke(app, args)
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output
    loud = runner.invoke(app, ["-vv", *args])
    assert loud.exit_code == 2
    assert "Traceback" in loud.stderr
    assert loud.stderr.rstrip().splitlines()[-1].startswith("error: no remote AE named 'NOPE'")


def test_home_from_the_environment(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"PACSLINK_HOME": str(tmp_path)}
    result = runner.invoke(
        app, ["ae", "add", "P", "--aet", "A", "--host", "h", "--port", "1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pacslink.toml").is_file()


def test_version_and_help() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("pacslink ")
    result = runner.invoke(app, ["ae", "--help"])
    assert result.exit_code == 0
    for command in ("add", "list", "edit", "remove"):
        assert command in result.stdout
