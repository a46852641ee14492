"""Settings: one typed, documented place, passed in.

Every setting is described once, in :data:`SETTINGS`, and held in the frozen
:class:`Settings` that :func:`load_settings` returns. Values are looked up, lowest
precedence first, in

1. the built-in default;
2. the ``[settings]`` table of ``<home>/pacslink.toml``;
3. the environment variable ``PACSLINK_<NAME>`` (``PACSLINK_AET`` for ``ae_title``);
4. a command-line flag.

Every value present is validated, even one a higher source overrides, and an invalid one
raises :class:`~pacslink.errors.ConfigError` naming where it came from, e.g.
``PACSLINK_PORT: must be an integer 1-65535, got 'abc'``. The home directory comes from
``--home``, else ``PACSLINK_HOME``, else the platform's user data directory. Relative
paths are relative to the home when read from the file, to the working directory when
given as a flag or environment variable. A database password is accepted only from the
environment or a flag, never from the file.

Re-exported from :mod:`pacslink.aeregistry` (the ``[ae.NAME]`` tables of the same file)
and :mod:`pacslink.aetitle`: :class:`AERegistry`, :func:`resolve_ae`,
:func:`validate_ae_title`, :func:`parse_ae_address`, :func:`validate_host`,
:func:`validate_port`.
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import platformdirs

from pacslink.aeregistry import CONFIG_FILENAME, AERegistry, read_document, resolve_ae
from pacslink.aetitle import (
    parse_ae_address,
    unknown_key_message,
    validate_ae_title,
    validate_host,
    validate_port,
)
from pacslink.errors import ConfigError
from pacslink.models import DuplicatePolicy, SyncMode

#: Environment variable naming the home directory.
HOME_ENV: Final = "PACSLINK_HOME"

_LOG_LEVELS: Final = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_DERIVED_PATH: Final = Path()
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:]*):(?P<pw>[^/@]*)@")


def _integer(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None or not low <= number <= high:
            raise ConfigError(f"must be an integer {low}-{high}, got {value!r}")
        return number

    return parse


def _seconds(value: object) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not 0 < number <= 86400:
        raise ConfigError(f"must be a number of seconds > 0 and <= 86400, got {value!r}")
    return number


def _ae_title(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"must be text, got {value!r}")
    return validate_ae_title(value)


def _path(value: object) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be a directory path, got {value!r}")
    return Path(value).expanduser()


def _file(value: object) -> Path | None:
    """An optional file path; empty means not set."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"must be a file path, got {value!r}")
    return Path(value.strip()).expanduser()


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"must be true or false, got {value!r}")


def _db_url(value: object) -> str:
    if not isinstance(value, str) or not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value):
        raise ConfigError(
            "must be a database URL, e.g. sqlite:////var/lib/pacslink/index.sqlite or "
            f"postgresql+psycopg://user@host/pacslink, got {redact_url(str(value))!r}"
        )
    return value


def _duplicates(value: object) -> DuplicatePolicy:
    try:
        return DuplicatePolicy(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(repr(policy.value) for policy in DuplicatePolicy)
        raise ConfigError(f"must be one of {allowed}, got {value!r}") from None


def _sync(value: object) -> SyncMode:
    try:
        return SyncMode(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(repr(mode.value) for mode in SyncMode)
        raise ConfigError(f"must be one of {allowed}, got {value!r}") from None


def _log_level(value: object) -> str:
    if not isinstance(value, str) or value.strip().upper() not in _LOG_LEVELS:
        raise ConfigError(f"must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return value.strip().upper()


@dataclass(frozen=True)
class Setting:
    """The description of one setting: the row of :data:`SETTINGS` that drives it all.

    Parameters
    ----------
    name : str
        Field of :class:`Settings` and key in the ``[settings]`` table.
    parse : callable
        Turns a raw value (TOML value, environment text, flag value) into the typed one;
        raises :class:`ConfigError` with ``must be ..., got ...``.
    help : str
        One line for people, shown by ``pacslink config show --json``. The type and
        default come from the :class:`Settings` field (properties :attr:`type`,
        :attr:`default`), so they are written once.
    env : str
        The environment variable, ``PACSLINK_<NAME>`` unless stated.
    flag : str
        The command-line flag that sets it.
    """

    name: str
    parse: Callable[[object], object] = field(repr=False)
    help: str
    env: str = ""
    flag: str = ""

    def __post_init__(self) -> None:
        if not self.env:
            object.__setattr__(self, "env", f"PACSLINK_{self.name.upper()}")
        if not self.flag:
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))

    @property
    def type(self) -> str:
        """The Python type of the value, as annotated on :class:`Settings` (``int``, ``Path``)."""
        return str(Settings.__dataclass_fields__[self.name].type)

    @property
    def default(self) -> str:
        """The built-in default as people read it; ``<home>`` stands for the home directory."""
        derived = {
            "home": "platformdirs.user_data_dir('pacslink')",
            "db_url": "sqlite:///<home>/index.sqlite",
            "store_dir": "<home>/store",
        }
        value = Settings.__dataclass_fields__[self.name].default
        if value is None:
            return ""  # not set
        if isinstance(value, bool):
            return str(value).lower()  # as TOML writes it
        return derived.get(self.name) or str(getattr(value, "value", value))


#: Every setting, in the order ``pacslink config show`` prints them.
SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("home", _path, "Directory holding pacslink.toml, the index and the store."),
    Setting(
        "ae_title", _ae_title, "Our AE title (PS3.5 6.2): 1-16 characters.", "PACSLINK_AET", "--aet"
    ),
    Setting("port", validate_port, "TCP port the Storage/Verification SCP listens on."),
    Setting("bind", validate_host, "Address the SCP listens on; 0.0.0.0 for every interface."),
    Setting("max_associations", _integer(1, 100_000), "Simultaneous associations accepted."),
    Setting("max_pending", _integer(1, 100_000),
            "Connections not yet associated; past it the oldest is closed."),
    Setting("max_pending_per_source", _integer(1, 100_000),
            "The same, per source address."),
    Setting(
        "max_pdu_length",
        _integer(4096, 16 * 1024 * 1024),
        "Maximum PDU length we announce as receiver, in bytes (PS3.8 D.1).",
    ),
    Setting("db_url", _db_url, "SQLAlchemy URL of the index; default SQLite in the home."),
    Setting("store_dir", _path, "Directory of received files; default <home>/store."),
    Setting("min_free_mb", _integer(0, 10**9), "Refuse to store below this free space (MB)."),
    Setting("max_instance_mb", _integer(0, 10**7), "Largest instance accepted, in MB (0: no limit)."),
    Setting("duplicates", _duplicates, "A SOP Instance UID already stored: keep or overwrite."),
    Setting("sync", _sync,
            "durable: fsync file, directory and index before each C-STORE success; "
            "never: no fsync (an instance acknowledged just before a power loss may be "
            "lost; throwaway or benchmark receivers only)."),
    Setting("connect_timeout", _seconds, "Seconds to wait for a TCP connection."),
    Setting("acse_timeout", _seconds, "Seconds to wait for association accept/release."),
    Setting("dimse_timeout", _seconds, "Seconds to wait for a DIMSE response."),
    Setting("network_timeout", _seconds, "Seconds an idle association is kept open."),
    Setting("query_timeout", _seconds, "Seconds a remote AE may stay silent during a C-FIND."),
    Setting("max_results", _integer(1, 10_000_000), "Matches kept per AE; more are cancelled (C-CANCEL)."),
    Setting("max_identifier_kb", _integer(1, 1_048_576),
            "Largest C-FIND match accepted, in KB; a larger one aborts that AE's query."),
    Setting("move_timeout", _seconds, "Seconds of C-MOVE without any progress before retrieve = auto falls back to C-GET."),
    Setting("accept_unknown_callers", _boolean,
            "Accept C-STORE (and Q/R) from calling AE titles that are not configured remote "
            "AEs; C-ECHO is always accepted."),
    Setting("check_caller_host", _boolean,
            "A configured calling AE title must come from the host configured for it."),
    Setting("tls_cert", _file, "DICOM TLS: our certificate, PEM (the chain may follow it)."),
    Setting("tls_key", _file, "DICOM TLS: the unencrypted PEM private key of tls_cert."),
    Setting("tls_ca", _file, "DICOM TLS: PEM file of the CA certificates we trust for peers."),
    Setting("tls_require_client_cert", _boolean,
            "DICOM TLS listener: refuse clients that present no certificate."),
    Setting("tls_check_hostname", _boolean,
            "DICOM TLS to AEs: the server certificate must name the host we connect to."),
    Setting("log_level", _log_level, "CRITICAL, ERROR, WARNING, INFO or DEBUG.", flag="--verbose"),
)

#: :data:`SETTINGS` by name.
SETTINGS_BY_NAME: Final[Mapping[str, Setting]] = MappingProxyType({s.name: s for s in SETTINGS})


class SourceKind(str, enum.Enum):
    """Where a setting's effective value came from."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    FLAG = "flag"


@dataclass(frozen=True)
class SettingSource:
    """The origin of one value: its kind and the file path, variable or flag named."""

    kind: SourceKind
    origin: str = ""

    def __str__(self) -> str:
        return f"{self.kind.value} {self.origin}" if self.origin else self.kind.value


#: The source of a value nobody set.
DEFAULT_SOURCE: Final = SettingSource(SourceKind.DEFAULT)


@dataclass(frozen=True)
class Settings:
    """The effective settings of one pacslink home.

    Build it with :func:`load_settings`; constructing it directly (in tests, in scripts)
    validates every field the same way.

    Parameters
    ----------
    home : Path
        Directory of ``pacslink.toml``, the index and the store.
    ae_title : str
        Our AE title, as called AE of the SCP and calling AE of the SCU.
    port : int
        TCP port of the Storage/Verification SCP.
    bind : str
        Address the SCP binds to.
    max_associations : int
        Simultaneous associations the SCP accepts; more are rejected (transient).
    max_pdu_length : int
        Maximum Length we announce as receiver in A-ASSOCIATE (PS3.8 D.1), in bytes.
    db_url : str
        SQLAlchemy URL of the index; empty means ``sqlite:///<home>/index.sqlite``.
    store_dir : Path
        Directory of received files; empty or relative means under ``home``
        (default ``<home>/store``).
    min_free_mb : int
        Free disk space floor in MB; below it C-STORE answers 0xA700.
    max_instance_mb : int
        Largest instance accepted in MB (0: no limit); a larger one gets 0xA700.
    max_pending, max_pending_per_source : int
        Connections that have not associated yet, in all and per source address; past
        either, the oldest is closed.
    duplicates : DuplicatePolicy
        What to do with a SOP Instance UID already stored.
    sync : SyncMode
        ``durable`` (default): an instance is answered with success only once its file,
        directory entry and index row are fsynced. ``never``: nothing is fsynced, so
        instances acknowledged just before a power loss may be lost; for throwaway
        receivers and benchmarks only.
    connect_timeout, acse_timeout, dimse_timeout, network_timeout : float
        Seconds to wait for a TCP connection, for association accept/release, for a
        DIMSE response, and before an idle association is closed.
    query_timeout, max_results, move_timeout : float, int, float
        Seconds a remote AE may stay silent during a C-FIND; matches kept per AE before
        C-CANCEL; seconds of C-MOVE without progress before ``auto`` falls back to C-GET.
    max_identifier_kb : int
        Largest C-FIND match (identifier) accepted, in KB; a larger one aborts the
        association and that AE's search fails with a message naming this setting.
    accept_unknown_callers : bool
        Accept associations from calling AE titles that are not configured remote AEs
        (or sources of a running retrieve). Off: such a caller may only propose
        Verification; anything else is rejected (A-ASSOCIATE-RJ permanent, service-user,
        reason 3, "calling-AE-title-not-recognized", PS3.8 Table 9-21).
    check_caller_host : bool
        A configured calling AE title is accepted only from the address its host
        resolves to; from elsewhere it is rejected with the same reason 3.
    tls_cert, tls_key : Path or None
        DICOM TLS (PS3.15 B.1): our PEM certificate and its unencrypted private key;
        required by ``pacslink listen --tls``, presented to TLS AEs when set.
    tls_ca : Path or None
        PEM file of the CA certificates that sign the peers' certificates: clients of
        ``listen --tls`` and AEs marked ``tls = true``.
    tls_require_client_cert : bool
        ``listen --tls`` refuses a client without a certificate (default true).
    tls_check_hostname : bool
        Towards TLS AEs, the certificate must name the host we connect to (default
        true); turn it off for PACS whose certificates name the AE, not the host.
    log_level : str
        ``CRITICAL``, ``ERROR``, ``WARNING``, ``INFO`` or ``DEBUG``.
    sources : Mapping of str to SettingSource
        Where each value came from; missing names are reported as defaults.
    """

    home: Path
    ae_title: str = "PACSLINK"
    port: int = 11112
    bind: str = "127.0.0.1"
    max_associations: int = 50
    max_pending: int = 64
    max_pending_per_source: int = 16
    max_pdu_length: int = 262144
    db_url: str = field(default="", repr=False)  # may hold a password
    store_dir: Path = _DERIVED_PATH
    min_free_mb: int = 200
    max_instance_mb: int = 4096
    duplicates: DuplicatePolicy = DuplicatePolicy.KEEP
    sync: SyncMode = SyncMode.DURABLE
    connect_timeout: float = 10.0
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 60.0
    query_timeout: float = 10.0
    max_results: int = 1000
    max_identifier_kb: int = 1024
    move_timeout: float = 30.0
    accept_unknown_callers: bool = False
    check_caller_host: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_require_client_cert: bool = True
    tls_check_hostname: bool = True
    log_level: str = "WARNING"
    sources: Mapping[str, SettingSource] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        home = _parse(SETTINGS_BY_NAME["home"], self.home, "home").absolute()
        object.__setattr__(self, "home", home)
        for setting in SETTINGS[1:]:
            value = getattr(self, setting.name)
            if setting.name == "db_url" and not value:
                value = f"sqlite:///{home / 'index.sqlite'}"
            elif setting.name == "store_dir" and value == _DERIVED_PATH:
                value = home / "store"
            value = _parse(setting, value, setting.name)
            if isinstance(value, Path) and not value.is_absolute():
                value = home / value
            object.__setattr__(self, setting.name, value)
        sources = {s.name: self.sources.get(s.name, DEFAULT_SOURCE) for s in SETTINGS}
        object.__setattr__(self, "sources", MappingProxyType(sources))

    @property
    def config_file(self) -> Path:
        """``<home>/pacslink.toml``."""
        return self.home / CONFIG_FILENAME

    def source_of(self, name: str) -> SettingSource:
        """Return where the value of setting ``name`` came from."""
        return self.sources[SETTINGS_BY_NAME[name].name]

    def as_dict(self, redact: bool = True) -> dict[str, Any]:
        """Return ``{name: value}`` with JSON-ready values (text for paths and enums).

        Parameters
        ----------
        redact : bool
            Replace a password in ``db_url`` by ``***`` (default).
        """
        result: dict[str, Any] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            elif setting.name == "db_url" and redact:
                value = redact_url(value)
            result[setting.name] = value
        return result


def redact_url(url: str) -> str:
    """Hide the password of a URL: ``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``."""
    return _URL.sub(r"\g<scheme>\g<user>:***@", url)


def resolve_home(
    home: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Path, SettingSource]:
    """Return the home directory and where it came from.

    ``home`` (the ``--home`` flag) wins over ``PACSLINK_HOME``, which wins over
    ``platformdirs.user_data_dir("pacslink")``. Empty values count as unset.
    """
    env = os.environ if environ is None else environ
    if home is not None and str(home):
        return _path(home).absolute(), SettingSource(SourceKind.FLAG, "--home")
    if env.get(HOME_ENV, ""):
        return _path(env[HOME_ENV]).absolute(), SettingSource(SourceKind.ENV, HOME_ENV)
    default = platformdirs.user_data_dir("pacslink", appauthor=False)
    return Path(default).absolute(), DEFAULT_SOURCE


def load_settings(
    home: Path | None = None,
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Return the effective settings: default < file < environment < flag.

    Parameters
    ----------
    home : Path, optional
        The ``--home`` flag; see :func:`resolve_home`.
    flags : Mapping, optional
        Flag values by setting name (``{"port": 4242, "ae_title": "X"}``); ``None``
        values are ignored, so a CLI can pass its options as they come.
    environ : Mapping, optional
        The environment; default ``os.environ``.

    Raises
    ------
    ConfigError
        For an unreadable or invalid file or an invalid value, naming its source, e.g.
        ``PACSLINK_PORT: must be an integer 1-65535, got 'abc'``.
    """
    env = os.environ if environ is None else environ
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    for name in given:
        if name not in SETTINGS_BY_NAME or name == "home":
            raise ValueError(f"not a setting flag: {name!r} (pass home= for the home)")
    home_path, home_source = resolve_home(home, env)
    if home_path.exists() and not home_path.is_dir():
        raise ConfigError(f"{home_path}: the pacslink home ({home_source}) is not a directory")
    path = home_path / CONFIG_FILENAME
    document = read_document(path)
    table: Mapping[str, object] = document.get("settings", {}) if document else {}
    for key in table:
        if key == "home":
            raise ConfigError(
                f"{path}: [settings] home cannot be set here; use --home or {HOME_ENV}"
            )
        if key not in SETTINGS_BY_NAME:
            allowed = tuple(s.name for s in SETTINGS[1:])
            raise ConfigError(f"{path}: [settings] {unknown_key_message(key, allowed)}")
    if "db_url" in table and redact_url(str(table["db_url"])) != table["db_url"]:
        raise ConfigError(
            f"{path}: [settings] db_url: do not keep a password in the file; "
            "set PACSLINK_DB_URL in the environment instead"
        )
    values: dict[str, Any] = {}
    sources = {"home": home_source}
    for setting in SETTINGS[1:]:
        name, cwd = setting.name, Path.cwd()
        candidates = [  # lowest precedence first; every one present is validated
            (table.get(name), SourceKind.FILE, str(path), f"{path}: [settings] {name}", home_path),
            (env.get(setting.env) or None, SourceKind.ENV, setting.env, setting.env, cwd),
            (given.get(name), SourceKind.FLAG, setting.flag, setting.flag, cwd),
        ]
        for raw, kind, origin, where, base in candidates:
            if raw is None:
                continue
            value = _parse(setting, raw, where)
            if isinstance(value, Path) and not value.is_absolute():
                value = base / value
            values[name], sources[name] = value, SettingSource(kind, origin)
    return Settings(home=home_path, sources=sources, **values)


def _parse(setting: Setting, raw: object, where: str) -> Any:
    try:
        return setting.parse(raw)
    except ConfigError as exc:
        raise type(exc)(f"{where}: {exc}") from exc


__all__ = [
    "CONFIG_FILENAME",
    "DEFAULT_SOURCE",
    "HOME_ENV",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "AERegistry",
    "Setting",
    "SettingSource",
    "Settings",
    "SourceKind",
    "load_settings",
    "parse_ae_address",
    "redact_url",
    "resolve_ae",
    "resolve_home",
    "validate_ae_title",
    "validate_host",
    "validate_port",
]
