"""Settings precedence and validation, AE title rules, and the remote-AE registry file."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import platformdirs
import pytest

from pacslink.config import (
    SETTINGS,
    SETTINGS_BY_NAME,
    AERegistry,
    Settings,
    SettingSource,
    SourceKind,
    load_settings,
    parse_ae_address,
    redact_url,
    resolve_ae,
    validate_ae_title,
)
from pacslink.errors import AETitleError, ConfigError
from pacslink.models import DuplicatePolicy, RemoteAE, RetrieveMethod, SyncMode


def write(home: Path, text: str) -> Path:
    path = home / "pacslink.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# --- precedence and sources ------------------------------------------------------------


def test_sync_from_file_env_and_flag(tmp_path: Path) -> None:
    write(tmp_path, '[settings]\nsync = "never"\n')
    assert load_settings(tmp_path, environ={}).sync is SyncMode.NEVER
    settings = load_settings(tmp_path, environ={"PACSLINK_SYNC": "Durable"})
    assert settings.sync is SyncMode.DURABLE
    assert settings.source_of("sync") == SettingSource(SourceKind.ENV, "PACSLINK_SYNC")
    settings = load_settings(tmp_path, flags={"sync": "never"}, environ={"PACSLINK_SYNC": "durable"})
    assert settings.sync is SyncMode.NEVER
    assert settings.source_of("sync") == SettingSource(SourceKind.FLAG, "--sync")


def test_sync_rejects_other_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, flags={"sync": "sometimes"}, environ={})
    assert error_of(excinfo) == "--sync: must be one of 'durable', 'never', got 'sometimes'"
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={"PACSLINK_SYNC": "off"})
    assert error_of(excinfo) == "PACSLINK_SYNC: must be one of 'durable', 'never', got 'off'"


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings.home == tmp_path
    assert settings.ae_title == "PACSLINK"
    assert settings.port == 11112
    assert settings.bind == "127.0.0.1"
    assert settings.max_associations == 50
    assert settings.max_pdu_length == 262144
    assert settings.db_url == f"sqlite:///{tmp_path}/index.sqlite"
    assert settings.store_dir == tmp_path / "store"
    assert settings.min_free_mb == 200
    assert settings.duplicates is DuplicatePolicy.KEEP
    assert settings.sync is SyncMode.DURABLE
    assert (settings.connect_timeout, settings.acse_timeout) == (10.0, 30.0)
    assert (settings.dimse_timeout, settings.network_timeout) == (60.0, 60.0)
    assert settings.log_level == "WARNING"
    assert settings.source_of("home") == SettingSource(SourceKind.FLAG, "--home")
    for setting in SETTINGS[1:]:
        assert settings.source_of(setting.name) == SettingSource(SourceKind.DEFAULT)
        assert str(settings.source_of(setting.name)) == "default"


def test_precedence_default_file_env_flag(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[settings]\nport = 2000\nae_title = "FROMFILE"\nbind = "0.0.0.0"\n'
        'duplicates = "overwrite"\nmin_free_mb = 10\n',
    )
    environ = {"PACSLINK_PORT": "3000", "PACSLINK_AET": "FROMENV", "PACSLINK_MIN_FREE_MB": "20"}
    flags = {"port": 4000, "bind": None, "min_free_mb": None}
    settings = load_settings(tmp_path, flags=flags, environ=environ)
    assert settings.port == 4000
    assert settings.source_of("port") == SettingSource(SourceKind.FLAG, "--port")
    assert str(settings.source_of("port")) == "flag --port"
    assert settings.ae_title == "FROMENV"
    assert settings.source_of("ae_title") == SettingSource(SourceKind.ENV, "PACSLINK_AET")
    assert str(settings.source_of("ae_title")) == "env PACSLINK_AET"
    assert settings.bind == "0.0.0.0"
    assert settings.source_of("bind") == SettingSource(SourceKind.FILE, str(path))
    assert settings.duplicates is DuplicatePolicy.OVERWRITE
    assert settings.min_free_mb == 20
    assert settings.source_of("max_associations").kind is SourceKind.DEFAULT


def test_env_beats_file_and_flag_beats_env_for_each_setting(tmp_path: Path) -> None:
    write(tmp_path, '[settings]\nmax_associations = 5\nlog_level = "error"\nacse_timeout = 1\n')
    environ = {"PACSLINK_MAX_ASSOCIATIONS": "6", "PACSLINK_LOG_LEVEL": "info"}
    settings = load_settings(tmp_path, environ=environ)
    assert settings.max_associations == 6
    assert settings.log_level == "INFO"
    assert settings.acse_timeout == 1.0
    settings = load_settings(
        tmp_path, flags={"max_associations": 7, "log_level": "DEBUG"}, environ=environ
    )
    assert settings.max_associations == 7
    assert settings.log_level == "DEBUG"
    assert settings.source_of("log_level") == SettingSource(SourceKind.FLAG, "--verbose")


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"PACSLINK_PORT": "", "PACSLINK_HOME": ""})
    assert settings.port == 11112


def test_home_flag_env_and_platform_default(tmp_path: Path) -> None:
    other = tmp_path / "other"
    settings = load_settings(tmp_path, environ={"PACSLINK_HOME": str(other)})
    assert settings.home == tmp_path
    settings = load_settings(None, environ={"PACSLINK_HOME": str(other)})
    assert settings.home == other
    assert settings.source_of("home") == SettingSource(SourceKind.ENV, "PACSLINK_HOME")
    settings = load_settings(None, environ={})
    assert settings.home == Path(platformdirs.user_data_dir("pacslink", appauthor=False))
    assert settings.source_of("home").kind is SourceKind.DEFAULT


def test_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        load_settings(home, environ={})


def test_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[settings]\nstore_dir = "received"\n')
    assert load_settings(tmp_path, environ={}).store_dir == tmp_path / "received"
    monkeypatch.chdir(tmp_path / "..")
    settings = load_settings(tmp_path, environ={"PACSLINK_STORE_DIR": "elsewhere"})
    assert settings.store_dir == Path.cwd() / "elsewhere"
    assert load_settings(tmp_path, environ={"PACSLINK_STORE_DIR": "~/x"}).store_dir == (
        Path("~/x").expanduser()
    )


def test_db_url_password_only_from_the_environment(tmp_path: Path) -> None:
    url = "postgresql+psycopg://pacs:secret@db/pacslink"
    settings = load_settings(tmp_path, environ={"PACSLINK_DB_URL": url})
    assert settings.db_url == url
    assert "secret" not in repr(settings)
    assert settings.as_dict()["db_url"] == "postgresql+psycopg://pacs:***@db/pacslink"
    assert settings.as_dict(redact=False)["db_url"] == url
    path = write(tmp_path, f'[settings]\ndb_url = "{url}"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={})
    assert error_of(excinfo) == (
        f"{path}: [settings] db_url: do not keep a password in the file; "
        "set PACSLINK_DB_URL in the environment instead"
    )
    assert redact_url("sqlite:////x/index.sqlite") == "sqlite:////x/index.sqlite"


def test_unknown_flag_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a setting flag"):
        load_settings(tmp_path, flags={"prot": 1}, environ={})


# --- the SETTINGS table drives everything ----------------------------------------------


def test_settings_table_matches_the_dataclass() -> None:
    fields = [f.name for f in dataclasses.fields(Settings) if f.name != "sources"]
    assert [s.name for s in SETTINGS] == fields
    envs = [s.env for s in SETTINGS]
    assert len(set(envs)) == len(envs)
    for setting in SETTINGS:
        assert setting.help and setting.help.endswith(".")
        assert setting.env.startswith("PACSLINK_")
        assert setting.flag.startswith("--")
    assert SETTINGS_BY_NAME["ae_title"].env == "PACSLINK_AET"
    assert SETTINGS_BY_NAME["ae_title"].flag == "--aet"
    assert SETTINGS_BY_NAME["max_associations"].env == "PACSLINK_MAX_ASSOCIATIONS"
    assert SETTINGS_BY_NAME["home"].env == "PACSLINK_HOME"
    assert (SETTINGS_BY_NAME["port"].type, SETTINGS_BY_NAME["port"].default) == ("int", "11112")
    assert SETTINGS_BY_NAME["connect_timeout"].type == "float"
    assert SETTINGS_BY_NAME["connect_timeout"].default == "10.0"
    assert SETTINGS_BY_NAME["db_url"].default == "sqlite:///<home>/index.sqlite"


def test_settings_are_frozen_and_validated_when_built(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, ae_title=" X ", port="104")  # type: ignore[arg-type]
    assert (settings.ae_title, settings.port) == ("X", 104)
    assert settings.config_file == tmp_path / "pacslink.toml"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.sources["port"] = SettingSource(SourceKind.FLAG)  # type: ignore[index]
    with pytest.raises(ConfigError, match="^port: must be an integer 1-65535, got 0$"):
        Settings(home=tmp_path, port=0)
    assert Settings(home=tmp_path, store_dir=Path("s")).store_dir == tmp_path / "s"


# --- every validation error message ----------------------------------------------------

ENV_ERRORS = [
    ("PACSLINK_PORT", "abc", "PACSLINK_PORT: must be an integer 1-65535, got 'abc'"),
    ("PACSLINK_PORT", "0", "PACSLINK_PORT: must be an integer 1-65535, got '0'"),
    (
        "PACSLINK_MAX_ASSOCIATIONS",
        "0",
        "PACSLINK_MAX_ASSOCIATIONS: must be an integer 1-100000, got '0'",
    ),
    (
        "PACSLINK_MAX_PDU_LENGTH",
        "100",
        "PACSLINK_MAX_PDU_LENGTH: must be an integer 4096-16777216, got '100'",
    ),
    (
        "PACSLINK_MIN_FREE_MB",
        "-1",
        "PACSLINK_MIN_FREE_MB: must be an integer 0-1000000000, got '-1'",
    ),
    (
        "PACSLINK_DUPLICATES",
        "ignore",
        "PACSLINK_DUPLICATES: must be one of 'keep', 'overwrite', got 'ignore'",
    ),
    (
        "PACSLINK_LOG_LEVEL",
        "LOUD",
        "PACSLINK_LOG_LEVEL: must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got 'LOUD'",
    ),
    (
        "PACSLINK_DIMSE_TIMEOUT",
        "0",
        "PACSLINK_DIMSE_TIMEOUT: must be a number of seconds > 0 and <= 86400, got '0'",
    ),
    (
        "PACSLINK_CONNECT_TIMEOUT",
        "nan",
        "PACSLINK_CONNECT_TIMEOUT: must be a number of seconds > 0 and <= 86400, got 'nan'",
    ),
    (
        "PACSLINK_BIND",
        "not a host",
        (
            "PACSLINK_BIND: must be a host name or IP address, e.g. pacs.example.org or "
            "192.168.1.10, got 'not a host'"
        ),
    ),
    (
        "PACSLINK_DB_URL",
        "index.sqlite",
        (
            "PACSLINK_DB_URL: must be a database URL, e.g. sqlite:////var/lib/pacslink/index.sqlite"
            " or postgresql+psycopg://user@host/pacslink, got 'index.sqlite'"
        ),
    ),
    (
        "PACSLINK_AET",
        "ABCDEFGHIJKLMNOPQ",
        (
            "PACSLINK_AET: AE title 'ABCDEFGHIJKLMNOPQ' is 17 characters long; the maximum is 16 "
            "(PS3.5 6.2), e.g. 'ABCDEFGHIJKLMNOP'"
        ),
    ),
    ("PACSLINK_STORE_DIR", "  ", "PACSLINK_STORE_DIR: must be a directory path, got '  '"),
]


@pytest.mark.parametrize(("variable", "value", "message"), ENV_ERRORS)
def test_invalid_environment_values(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={variable: value})
    assert error_of(excinfo) == message


def test_invalid_ae_title_from_the_environment_is_an_ae_title_error(tmp_path: Path) -> None:
    with pytest.raises(AETitleError):
        load_settings(tmp_path, environ={"PACSLINK_AET": "A\\B"})


def test_invalid_flag_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, flags={"port": "abc"}, environ={})
    assert error_of(excinfo) == "--port: must be an integer 1-65535, got 'abc'"


def test_overridden_file_value_is_still_validated(tmp_path: Path) -> None:
    path = write(tmp_path, '[settings]\nport = "abc"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, flags={"port": 4242}, environ={"PACSLINK_PORT": "4243"})
    assert error_of(excinfo) == f"{path}: [settings] port: must be an integer 1-65535, got 'abc'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[settings]\nport = 70000\n", "[settings] port: must be an integer 1-65535, got 70000"),
        ("[settings]\nport = true\n", "[settings] port: must be an integer 1-65535, got True"),
        (
            "[settings]\nprot = 1\n",
            (
                "[settings] unknown key 'prot' (did you mean 'port'?); allowed keys: ae_title, port, "
                "bind, max_associations, max_pending, max_pending_per_source, max_pdu_length, "
                "db_url, store_dir, min_free_mb, max_instance_mb, duplicates, sync, "
                "connect_timeout, acse_timeout, dimse_timeout, network_timeout, "
                "query_timeout, max_results, max_identifier_kb, move_timeout, "
                "accept_unknown_callers, check_caller_host, tls_cert, tls_key, tls_ca, "
                "tls_require_client_cert, tls_check_hostname, log_level"
            ),
        ),
        (
            '[settings]\nhome = "/x"\n',
            "[settings] home cannot be set here; use --home or PACSLINK_HOME",
        ),
        (
            "[setings]\nport = 1\n",
            (
                "unknown table 'setings' (did you mean 'settings'?); the file holds [settings] and "
                "[ae.NAME] tables only"
            ),
        ),
        ("settings = 3\n", "settings must be a table, e.g. [settings]"),
        (
            "[settings]\nacse_timeout = -1\n",
            "[settings] acse_timeout: must be a number of seconds > 0 and <= 86400, got -1",
        ),
    ],
)
def test_invalid_settings_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={})
    assert error_of(excinfo) == f"{path}: {message}"


def test_file_that_is_not_toml_or_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "[settings\nport = 1\n")
    with pytest.raises(ConfigError, match=r"pacslink\.toml: not valid TOML: .*line 1"):
        load_settings(tmp_path, environ={})
    path.write_bytes(b'[settings]\nae_title = "\xff"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={})
    assert error_of(excinfo) == f"{path}: not UTF-8 text (byte 23); save it as UTF-8"


def test_missing_file_means_defaults_and_no_aes(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "new", environ={}).port == 11112
    assert AERegistry.for_home(tmp_path / "new").list() == []
    assert not (tmp_path / "new").exists()


# --- AE titles and addresses -----------------------------------------------------------


def test_ae_title_rules() -> None:
    assert validate_ae_title("A" * 16) == "A" * 16
    assert validate_ae_title("  ORTHANC  ") == "ORTHANC"
    assert validate_ae_title(" MY AE ") == "MY AE"
    assert validate_ae_title("  " + "B" * 16 + " ") == "B" * 16
    with pytest.raises(AETitleError) as excinfo:
        validate_ae_title("A" * 17)
    assert error_of(excinfo) == (
        f"AE title '{'A' * 17}' is 17 characters long; the maximum is 16 (PS3.5 6.2), "
        f"e.g. '{'A' * 16}'"
    )
    with pytest.raises(AETitleError) as excinfo:
        validate_ae_title("A\\B")
    assert error_of(excinfo) == (
        "AE title 'A\\\\B' contains a backslash, which DICOM does not allow in AE titles "
        "(PS3.5 6.2); remove it"
    )
    with pytest.raises(AETitleError) as excinfo:
        validate_ae_title("AB\x1bC")
    assert error_of(excinfo) == (
        "AE title 'AB\\x1bC' contains control character U+001B at position 3; "
        "use printable ASCII only (PS3.5 6.2)"
    )
    for control in ("A\tB", "A\nB", "A\x00", "A\x7f"):
        with pytest.raises(AETitleError, match="control character"):
            validate_ae_title(control)
    for empty in ("", " ", " " * 16, " " * 20):
        with pytest.raises(AETitleError) as excinfo:
            validate_ae_title(empty)
        assert error_of(excinfo) == (
            "AE title is empty or only spaces; give 1-16 characters, e.g. PACSLINK"
        )
    with pytest.raises(AETitleError, match="non-ASCII character 'é' at position 2"):
        validate_ae_title("Xé")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("ORTHANC@127.0.0.1:4242", ("ORTHANC", "127.0.0.1", 4242)),
        ("STORESCP@pacs.example.org:104", ("STORESCP", "pacs.example.org", 104)),
        (" SPACED @localhost:11112", ("SPACED", "localhost", 11112)),
        ("ORTHANC@[::1]:4242", ("ORTHANC", "::1", 4242)),
        ("ORTHANC@[fe80::1%eth0]:104", ("ORTHANC", "fe80::1%eth0", 104)),
        ("A@B@host:5", ("A@B", "host", 5)),
    ],
)
def test_parse_ae_address(address: str, expected: tuple[str, str, int]) -> None:
    assert parse_ae_address(address) == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "127.0.0.1:4242",
            (
                "AE address '127.0.0.1:4242' has no '@'; expected AET@host:port, "
                "e.g. ORTHANC@127.0.0.1:4242"
            ),
        ),
        (
            "ORTHANC@127.0.0.1",
            (
                "AE address 'ORTHANC@127.0.0.1' has no port; expected AET@host:port, "
                "e.g. ORTHANC@127.0.0.1:4242"
            ),
        ),
        (
            "ORTHANC@::1:104",
            "AE address 'ORTHANC@::1:104': put an IPv6 host in brackets, e.g. ORTHANC@[::1]:104",
        ),
        (
            "ORTHANC@[::1]104",
            (
                "AE address 'ORTHANC@[::1]104': an IPv6 host needs a closing ']' and a port, "
                "e.g. ORTHANC@[::1]:4242"
            ),
        ),
        (
            "ORTHANC@host:abc",
            "AE address 'ORTHANC@host:abc': port: must be an integer 1-65535, got 'abc'",
        ),
        (
            "ORTHANC@host:65536",
            "AE address 'ORTHANC@host:65536': port: must be an integer 1-65535, got '65536'",
        ),
        (
            "ORTHANC@:104",
            (
                "AE address 'ORTHANC@:104': host: must be a host name or IP address, "
                "e.g. pacs.example.org or 192.168.1.10, got ''"
            ),
        ),
        (
            "@host:104",
            (
                "AE address '@host:104': AE title is empty or only spaces; give 1-16 characters, "
                "e.g. PACSLINK"
            ),
        ),
    ],
)
def test_parse_ae_address_errors(address: str, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_ae_address(address)
    assert error_of(excinfo) == message


def test_bad_title_in_address_is_an_ae_title_error() -> None:
    with pytest.raises(AETitleError, match="backslash"):
        parse_ae_address("A\\B@host:104")


# --- the AE registry -------------------------------------------------------------------

COMMENTED = """\
# clinic pacslink configuration

[settings]
port = 11113  # our port

# the main archive
[ae.PACS1]
aet = "ORTHANC"   # as configured on the server
host = "127.0.0.1"
port = 4242 # orthanc's DICOM port

# the ultrasound room
# (second floor)
[ae.US1]
aet = "USROOM"
host = "10.0.0.7"
port = 104
retrieve = "get"
"""


def test_list_and_get(tmp_path: Path) -> None:
    write(tmp_path, COMMENTED)
    registry = AERegistry.for_home(tmp_path)
    assert registry.list() == [
        RemoteAE("PACS1", "ORTHANC", "127.0.0.1", 4242),
        RemoteAE("US1", "USROOM", "10.0.0.7", 104, retrieve=RetrieveMethod.GET),
    ]
    assert registry.get("US1").ae_title == "USROOM"
    assert registry.get("us1").name == "US1"
    with pytest.raises(ConfigError) as excinfo:
        registry.get("PACS2")
    assert error_of(excinfo) == (
        "no remote AE named 'PACS2'; did you mean 'PACS1'? known: PACS1, US1 "
        "(see `pacslink ae list`)"
    )
    with pytest.raises(ConfigError) as excinfo:
        AERegistry.for_home(tmp_path / "empty").get("PACS1")
    assert error_of(excinfo) == (
        "no remote AE named 'PACS1': none are configured yet; add one with "
        "`pacslink ae add NAME --aet AET --host HOST --port PORT`"
    )


def test_add_keeps_comments(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    registry = AERegistry(path)
    added = registry.add(RemoteAE("CT.2", " CTSCAN ", "[::1]", 11112, "CT room"))
    assert added == RemoteAE("CT.2", "CTSCAN", "::1", 11112, "CT room")
    text = path.read_text()
    assert text.startswith(COMMENTED)
    assert text[len(COMMENTED) :] == (
        '\n[ae."CT.2"]\naet = "CTSCAN"\nhost = "::1"\nport = 11112\n'
        'description = "CT room"\nretrieve = "auto"\n'
    )
    assert registry.get("CT.2") == added
    assert load_settings(tmp_path, environ={}).port == 11113


def test_add_creates_the_file_and_home(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    registry = AERegistry.for_home(home)
    registry.add(RemoteAE("PACS1", "ORTHANC", "localhost", 4242))
    text = (home / "pacslink.toml").read_text()
    assert text.startswith("# pacslink configuration")
    assert '[ae.PACS1]\naet = "ORTHANC"\nhost = "localhost"\nport = 4242\n' in text
    assert registry.list() == [RemoteAE("PACS1", "ORTHANC", "localhost", 4242)]


def test_add_rejects_duplicates_and_invalid_entries(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    registry = AERegistry(path)
    with pytest.raises(ConfigError) as excinfo:
        registry.add(RemoteAE("pacs1", "X", "h", 1))
    assert error_of(excinfo) == (
        f"a remote AE named 'PACS1' already exists in {path}; choose another name or change "
        "it with `pacslink ae edit PACS1`"
    )
    with pytest.raises(AETitleError) as excinfo:
        registry.add(RemoteAE("NEW", "A" * 17, "h", 1))
    assert error_of(excinfo).startswith("[ae.NEW] aet: AE title 'AAAAAAAAAAAAAAAAA' is 17")
    with pytest.raises(ConfigError) as excinfo:
        registry.add(RemoteAE("NEW", "A", "h", 70000))
    assert error_of(excinfo) == "[ae.NEW] port: must be an integer 1-65535, got 70000"
    with pytest.raises(ConfigError) as excinfo:
        registry.add(RemoteAE("bad name", "A", "h", 1))
    assert error_of(excinfo) == (
        "[ae.\"bad name\"] AE name 'bad name' is not valid: use 1-64 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit, e.g. PACS1"
    )
    for name in ("-x", "", "x" * 65, "a/b"):
        with pytest.raises(ConfigError, match="is not valid"):
            registry.add(RemoteAE(name, "A", "h", 1))
    assert registry.add(RemoteAE("x" * 64, "A", "h", 1)).name == "x" * 64
    assert path.read_text().startswith(COMMENTED)


def test_edit_keeps_comments(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    registry = AERegistry(path)
    edited = registry.edit("PACS1", port=4243, description="main", retrieve="move")
    assert edited == RemoteAE("PACS1", "ORTHANC", "127.0.0.1", 4243, "main", RetrieveMethod.MOVE)
    assert path.read_text() == COMMENTED.replace(
        "port = 4242 # orthanc's DICOM port\n",
        'port = 4243 # orthanc\'s DICOM port\ndescription = "main"\nretrieve = "move"\n',
    )
    registry.edit("PACS1", description="", retrieve=RetrieveMethod.AUTO)
    assert "description" not in path.read_text()


def test_edit_renames_in_place(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    registry = AERegistry(path)
    renamed = registry.edit("pacs1", name="MAIN", ae_title="ORTHANC2")
    assert renamed.name == "MAIN"
    assert path.read_text() == COMMENTED.replace("[ae.PACS1]", "[ae.MAIN]").replace(
        'aet = "ORTHANC"   #', 'aet = "ORTHANC2"   #'
    )
    assert [ae.name for ae in registry.list()] == ["MAIN", "US1"]
    with pytest.raises(ConfigError, match="a remote AE named 'US1' already exists"):
        registry.edit("MAIN", name="us1")
    with pytest.raises(ConfigError, match=r"^\[ae\.MAIN\] host: must be a host name"):
        registry.edit("MAIN", host="bad host")
    with pytest.raises(TypeError, match="cannot change"):
        registry.edit("MAIN", colour="red")
    with pytest.raises(ConfigError, match="no remote AE named 'NOPE'"):
        registry.edit("NOPE", port=1)


def test_remove_takes_the_comments_above_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    registry = AERegistry(path)
    removed = registry.remove("US1")
    assert removed == RemoteAE("US1", "USROOM", "10.0.0.7", 104, retrieve=RetrieveMethod.GET)
    expected = COMMENTED[: COMMENTED.index("# the ultrasound room")]
    assert path.read_text() == expected.rstrip("\n") + "\n"
    registry.remove("PACS1")
    assert path.read_text() == (
        "# clinic pacslink configuration\n\n[settings]\nport = 11113  # our port\n"
    )
    assert registry.list() == []
    with pytest.raises(ConfigError, match="none are configured yet"):
        registry.remove("PACS1")


def test_remove_after_add_and_edit(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    registry = AERegistry(path)
    registry.add(RemoteAE("NEW", "NEW", "h", 1))
    registry.edit("PACS1", description="now with a description")
    registry.remove("US1")
    text = path.read_text()
    assert "ultrasound" not in text and "second floor" not in text
    assert "# the main archive\n[ae.PACS1]" in text
    assert [ae.name for ae in registry.list()] == ["PACS1", "NEW"]


def test_invalid_entries_name_the_table_and_key(tmp_path: Path) -> None:
    cases = [
        (
            '[ae.PACS1]\naet = "A"\nhost = "h"\nport = 70000\n',
            "[ae.PACS1] port: must be an integer 1-65535, got 70000",
        ),
        (
            '[ae.PACS1]\naet = "A"\nhost = "h"\n',
            "[ae.PACS1] missing key 'port' (required: aet, host, port)",
        ),
        (
            '[ae.PACS1]\naet = "A"\nhost = "h"\nprot = 1\n',
            (
                "[ae.PACS1] unknown key 'prot' (did you mean 'port'?); allowed keys: aet, host, "
                "port, description, retrieve, tls"
            ),
        ),
        (
            '[ae.PACS1]\naet = "A"\nhost = "h"\nport = 1\nretrieve = "copy"\n',
            "[ae.PACS1] retrieve: must be one of 'move', 'get', 'auto', got 'copy'",
        ),
        (
            '[ae.PACS1]\naet = "A"\nhost = "h"\nport = 1\ntls = "yes"\n',
            "[ae.PACS1] tls: must be true or false, got 'yes'",
        ),
        (
            '[ae.PACS1]\naet = "A\\\\B"\nhost = "h"\nport = 1\n',
            (
                "[ae.PACS1] aet: AE title 'A\\\\B' contains a backslash, which DICOM does not allow "
                "in AE titles (PS3.5 6.2); remove it"
            ),
        ),
        (
            '[ae.PACS.1]\naet = "A"\nhost = "h"\nport = 1\n',
            (
                "[ae.PACS] unknown key '1'; allowed keys: aet, host, port, description, retrieve, "
                "tls; "
                "a name containing '.' must be quoted, e.g. [ae.\"PACS.1\"]"
            ),
        ),
        (
            "[ae]\nPACS1 = 3\n",
            "[ae] PACS1: each remote AE is a table, e.g. [ae.PACS1] with aet, host and port",
        ),
        (
            '[ae.PACS1]\naet = "A"\nhost = "h"\nport = 1\ndescription = 5\n',
            "[ae.PACS1] description: must be text, got 5",
        ),
    ]
    for text, message in cases:
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as excinfo:
            AERegistry(path).list()
        assert error_of(excinfo) == f"{path}: {message}"


def test_a_broken_entry_can_be_removed(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED.replace("port = 104", "port = 0"))
    registry = AERegistry(path)
    with pytest.raises(ConfigError, match=r"\[ae\.US1\] port"):
        registry.list()
    assert registry.remove("US1") is None
    assert [ae.name for ae in registry.list()] == ["PACS1"]


def test_resolve_ae(tmp_path: Path) -> None:
    registry = AERegistry(write(tmp_path, COMMENTED))
    assert resolve_ae("PACS1", registry) == registry.get("PACS1")
    assert resolve_ae("STORESCP@localhost:104", registry) == RemoteAE(
        "STORESCP@localhost:104", "STORESCP", "localhost", 104
    )
    ipv6 = resolve_ae("X@[::1]:104", registry)
    assert (ipv6.name, ipv6.host, ipv6.port) == ("X@[::1]:104", "::1", 104)
    with pytest.raises(ConfigError, match="no remote AE named 'NOPE'"):
        resolve_ae("NOPE", registry)
    with pytest.raises(ConfigError, match="has no port"):
        resolve_ae("X@localhost", registry)


# --- atomic writes ---------------------------------------------------------------------


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, COMMENTED)
    path.chmod(0o600)
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(source: str, target: str) -> None:
        assert Path(source).parent == tmp_path and Path(source).name.startswith(".pacslink")
        assert Path(source).read_text().count("[ae.") == 3  # complete before the rename
        assert path.read_text() == COMMENTED  # the old file is untouched until then
        replaced.append((str(source), str(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    AERegistry(path).add(RemoteAE("NEW", "NEW", "h", 1))
    assert len(replaced) == 1 and replaced[0][1] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pacslink.toml"]


def test_failed_write_leaves_the_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, COMMENTED)

    def fail(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ConfigError) as excinfo:
        AERegistry(path).add(RemoteAE("NEW", "NEW", "h", 1))
    assert error_of(excinfo) == f"{path}: cannot write: No space left on device"
    assert path.read_text() == COMMENTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pacslink.toml"]


def test_symlinked_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text(COMMENTED)
    link = tmp_path / "home" / "pacslink.toml"
    link.parent.mkdir()
    link.symlink_to(real)
    AERegistry(link).add(RemoteAE("NEW", "NEW", "h", 1))
    assert link.is_symlink()
    assert "[ae.NEW]" in real.read_text()
