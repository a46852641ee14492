"""AE titles, AE addresses and remote-AE entries: validation with messages that say how to fix.

An Application Entity (AE) is one DICOM program on the network, known to its peers by
its AE title, host and port. This module checks what people type for them:

- :func:`validate_ae_title` applies PS3.5 6.2 (AE value representation).
- :func:`parse_ae_address` reads the ``AET@host:port`` notation of DCMTK users.
- :func:`validate_remote_ae` and :func:`remote_ae_from_mapping` check a registry entry.

Every function raises :class:`~pacslink.errors.ConfigError` (or its subclass
:class:`~pacslink.errors.AETitleError`) with a message that does not name where the value
came from; callers prefix it with the file, table or option it was read from.

>>> validate_ae_title("  ORTHANC ")
'ORTHANC'
>>> parse_ae_address("ORTHANC@[::1]:4242")
('ORTHANC', '::1', 4242)
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from pacslink.errors import AETitleError, ConfigError
from pacslink.models import RemoteAE, RetrieveMethod

#: Maximum length of an AE title in characters, PS3.5 6.2.
AE_TITLE_MAX_LENGTH: Final = 16

#: Maximum length of a remote-AE name (the local nickname, e.g. ``PACS1``).
AE_NAME_MAX_LENGTH: Final = 64

_T = TypeVar("_T")

_AE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})")

#: Keys of an ``[ae.NAME]`` table: required first, then optional.
AE_REQUIRED_KEYS: Final = ("aet", "host", "port")
AE_OPTIONAL_KEYS: Final = ("description", "retrieve", "tls")
AE_KEYS: Final = AE_REQUIRED_KEYS + AE_OPTIONAL_KEYS


def validate_ae_title(value: str) -> str:
    """Check an AE title against PS3.5 6.2 and return it without surrounding spaces.

    An AE title is 1-16 characters of the Default Character Repertoire (printable
    ASCII) without backslash or control characters; leading and trailing spaces are not
    significant, and a value of spaces only is not allowed.

    Parameters
    ----------
    value : str
        The title as typed or received.

    Returns
    -------
    str
        The title with leading and trailing spaces removed.

    Raises
    ------
    AETitleError
        When a rule is broken; the message names the rule and how to fix the title.

    Examples
    --------
    >>> validate_ae_title("STORESCP")
    'STORESCP'
    >>> validate_ae_title("ABCDEFGHIJKLMNOPQ")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pacslink.errors.AETitleError: AE title 'ABCDEFGHIJKLMNOPQ' is 17 characters long; ...
    """
    title = value.strip(" ")
    if not title:
        raise AETitleError("AE title is empty or only spaces; give 1-16 characters, e.g. PACSLINK")
    for position, char in enumerate(title, start=1):
        code = ord(char)
        if char == "\\":
            raise AETitleError(
                f"AE title {title!r} contains a backslash, which DICOM does not allow "
                "in AE titles (PS3.5 6.2); remove it"
            )
        if code < 0x20 or code == 0x7F:
            raise AETitleError(
                f"AE title {title!r} contains control character U+{code:04X} at "
                f"position {position}; use printable ASCII only (PS3.5 6.2)"
            )
        if code > 0x7E:
            raise AETitleError(
                f"AE title {title!r} contains non-ASCII character {char!r} at position "
                f"{position}; use ASCII letters, digits, spaces or punctuation (PS3.5 6.2)"
            )
    if len(title) > AE_TITLE_MAX_LENGTH:
        raise AETitleError(
            f"AE title {title!r} is {len(title)} characters long; the maximum is "
            f"{AE_TITLE_MAX_LENGTH} (PS3.5 6.2), e.g. {title[:AE_TITLE_MAX_LENGTH]!r}"
        )
    return title


def validate_ae_name(name: str) -> str:
    """Check the local name of a remote AE (``PACS1``) and return it.

    Parameters
    ----------
    name : str
        1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit.

    Returns
    -------
    str
        The name, unchanged.

    Raises
    ------
    ConfigError
        When the name breaks the rule.
    """
    if not isinstance(name, str) or not _AE_NAME.fullmatch(name):
        raise ConfigError(
            f"AE name {name!r} is not valid: use 1-{AE_NAME_MAX_LENGTH} letters, digits, "
            "'.', '_' or '-', starting with a letter or digit, e.g. PACS1"
        )
    return name


def validate_port(value: object) -> int:
    """Check a TCP port number given as ``int`` or decimal text and return it.

    Raises
    ------
    ConfigError
        ``must be an integer 1-65535, got ...`` when it is not.
    """
    port: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value.strip())
    if port is None or not 1 <= port <= 65535:
        raise ConfigError(f"must be an integer 1-65535, got {value!r}")
    return port


def validate_host(value: object) -> str:
    """Check a host name or IP address and return it (IPv6 without brackets).

    Parameters
    ----------
    value : object
        A DNS name (``pacs.example.org``), an IPv4 address or an IPv6 address, with or
        without ``[]`` around it.

    Returns
    -------
    str
        The host, with brackets removed from an IPv6 address.

    Raises
    ------
    ConfigError
        When the value cannot be a host.
    """
    if isinstance(value, str):
        host = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        try:
            ipaddress.ip_address(host)
        except ValueError:
            labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
            if 0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(x) for x in labels):
                return host
        else:
            return host
    raise ConfigError(
        f"must be a host name or IP address, e.g. pacs.example.org or 192.168.1.10, got {value!r}"
    )


def parse_ae_address(address: str) -> tuple[str, str, int]:
    """Split ``AET@host:port`` into a validated AE title, host and port.

    Parameters
    ----------
    address : str
        ``ORTHANC@127.0.0.1:4242``, ``ORTHANC@pacs.example.org:104`` or, for IPv6,
        ``ORTHANC@[::1]:4242``.

    Returns
    -------
    tuple of (str, str, int)
        AE title (stripped), host (IPv6 without brackets) and port.

    Raises
    ------
    ConfigError
        When the address is malformed; :class:`AETitleError` for a bad AE title.
    """
    example = "expected AET@host:port, e.g. ORTHANC@127.0.0.1:4242"
    title, at, hostport = address.rpartition("@")
    if not at:
        raise ConfigError(f"AE address {address!r} has no '@'; {example}")
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ConfigError(
                f"AE address {address!r}: an IPv6 host needs a closing ']' and a port, "
                "e.g. ORTHANC@[::1]:4242"
            )
        port_text = rest[1:]
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            raise ConfigError(f"AE address {address!r} has no port; {example}")
        if ":" in host:
            raise ConfigError(
                f"AE address {address!r}: put an IPv6 host in brackets, e.g. "
                f"{title or 'ORTHANC'}@[{host}]:{port_text}"
            )
    return (
        _checked(f"AE address {address!r}", _validate_title, title),
        _checked(f"AE address {address!r}: host", validate_host, host),
        _checked(f"AE address {address!r}: port", validate_port, port_text),
    )


def validate_remote_ae(ae: RemoteAE) -> RemoteAE:
    """Check every field of a remote AE and return it normalised.

    The AE title is stripped, an IPv6 host loses its brackets, ``retrieve`` given as text
    becomes a :class:`~pacslink.models.RetrieveMethod`.

    Raises
    ------
    ConfigError
        The message starts with the field at fault: ``aet: ...``, ``port: ...``.
    """
    values = {
        "aet": ae.ae_title,
        "host": ae.host,
        "port": ae.port,
        "description": ae.description,
        "retrieve": ae.retrieve,
        "tls": ae.tls,
    }
    return _build(ae.name, values)


def remote_ae_from_mapping(name: str, table: Mapping[str, object]) -> RemoteAE:
    """Build a validated remote AE from the keys of an ``[ae.NAME]`` table.

    Parameters
    ----------
    name : str
        The table's name, e.g. ``PACS1``.
    table : Mapping
        ``aet``, ``host``, ``port`` (required), ``description``, ``retrieve``, ``tls``.

    Raises
    ------
    ConfigError
        For a missing or unknown key (with the allowed ones) or an invalid value; the
        message starts with the key at fault.
    """
    unknown = [key for key in table if key not in AE_KEYS]
    if unknown:
        raise ConfigError(unknown_key_message(unknown[0], AE_KEYS, table[unknown[0]]))
    missing = [key for key in AE_REQUIRED_KEYS if key not in table]
    if missing:
        raise ConfigError(f"missing key {missing[0]!r} (required: {', '.join(AE_REQUIRED_KEYS)})")
    return _build(name, table)


def remote_ae_to_mapping(ae: RemoteAE) -> dict[str, object]:
    """Return the ``[ae.NAME]`` keys for a remote AE (``description`` only when set)."""
    table: dict[str, object] = {"aet": ae.ae_title, "host": ae.host, "port": ae.port}
    table["retrieve"] = RetrieveMethod(ae.retrieve).value
    if ae.description:
        table["description"] = ae.description
    if ae.tls:
        table["tls"] = True
    return table


def unknown_key_message(key: str, allowed: tuple[str, ...], value: object = None) -> str:
    """Return ``unknown key 'prot' (did you mean 'port'?); allowed keys: ...``."""
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    message += f"; allowed keys: {', '.join(allowed)}"
    if isinstance(value, Mapping):
        message += "; a name containing '.' must be quoted, e.g. [ae.\"PACS.1\"]"
    return message


def _build(name: str, values: Mapping[str, object]) -> RemoteAE:
    """Validate the values of one AE entry, keyed as in the TOML table."""
    return RemoteAE(
        name=validate_ae_name(name),
        ae_title=_checked("aet", _validate_title, values["aet"]),
        host=_checked("host", validate_host, values["host"]),
        port=_checked("port", validate_port, values["port"]),
        description=_checked("description", _validate_description, values.get("description", "")),
        retrieve=_checked("retrieve", _validate_retrieve, values.get("retrieve", "auto")),
        tls=_checked("tls", _validate_tls, values.get("tls", False)),
    )


def _checked(where: str, check: Callable[[object], _T], value: object) -> _T:
    """Run ``check(value)``, prefixing a :class:`ConfigError` message with ``where: ``."""
    try:
        return check(value)
    except ConfigError as exc:
        raise type(exc)(f"{where}: {exc}") from exc


def _validate_title(value: object) -> str:
    if not isinstance(value, str):
        raise AETitleError(f"must be text, got {value!r}")
    return validate_ae_title(value)


def _validate_retrieve(value: object) -> RetrieveMethod:
    try:
        return RetrieveMethod(value)
    except ValueError:
        allowed = ", ".join(repr(method.value) for method in RetrieveMethod)
        raise ConfigError(f"must be one of {allowed}, got {value!r}") from None


def _validate_tls(value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}")
    return value


def _validate_description(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"must be text, got {value!r}")
    return value


__all__ = [
    "AE_KEYS",
    "AE_NAME_MAX_LENGTH",
    "AE_OPTIONAL_KEYS",
    "AE_REQUIRED_KEYS",
    "AE_TITLE_MAX_LENGTH",
    "parse_ae_address",
    "remote_ae_from_mapping",
    "remote_ae_to_mapping",
    "unknown_key_message",
    "validate_ae_name",
    "validate_ae_title",
    "validate_host",
    "validate_port",
    "validate_remote_ae",
]
