"""The remote-AE registry and the ``pacslink.toml`` file it lives in.

The file of a pacslink home holds ``[settings]`` (read by :mod:`pacslink.config`) and one
``[ae.NAME]`` table per remote AE (the seed's "SetupAEs": PACS and modalities the clinic
talks to). :class:`AERegistry` lists, adds, edits and removes those tables. The file is
edited with tomlkit, so the user's comments and layout survive, and written atomically
(temporary file, fsync, ``os.replace``)::

    # the main archive
    [ae.PACS1]
    aet = "ORTHANC"
    host = "127.0.0.1"
    port = 4242
    retrieve = "auto"          # "move", "get" or "auto"
    description = "Main PACS"
    tls = true                 # DICOM TLS; optional, default false

Every read validates, and errors name the file, table and key:
``/home/x/pacslink.toml: [ae.PACS1] port: must be an integer 1-65535, got 70000``.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import ParseError
from tomlkit.items import Comment, Null, Table
from tomlkit.toml_document import TOMLDocument

from pacslink.aetitle import (
    AE_KEYS,
    parse_ae_address,
    remote_ae_from_mapping,
    remote_ae_to_mapping,
    validate_remote_ae,
)
from pacslink.errors import ConfigError
from pacslink.models import RemoteAE, RetrieveMethod

#: Name of the settings and AE registry file inside the home directory.
CONFIG_FILENAME: Final = "pacslink.toml"

_NEW_FILE_HEADER: Final = """\
# pacslink configuration: [settings] and one [ae.NAME] table per remote AE.
# Edit by hand or with `pacslink ae add|edit|remove`; comments are kept.
"""


def read_document(path: Path, create: bool = False) -> TOMLDocument | None:
    """Parse ``pacslink.toml`` with tomlkit and check its layout.

    Parameters
    ----------
    path : Path
        The file.
    create : bool
        Return a new document (with a header comment) when the file does not exist,
        instead of ``None``.

    Raises
    ------
    ConfigError
        Unreadable, not UTF-8, not TOML, or a table other than ``[settings]`` and
        ``[ae.NAME]``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.parse(_NEW_FILE_HEADER) if create else None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        document = tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for key, value in document.items():
        if key not in ("settings", "ae"):
            close = difflib.get_close_matches(key, ("settings", "ae"), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{path}: unknown table {key!r}{hint}; the file holds [settings] and "
                "[ae.NAME] tables only"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {key} must be a table, e.g. [{key}]")
    for name, value in document.get("ae", {}).items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}: [ae] {name}: each remote AE is a table, e.g. [ae.PACS1] with "
                "aet, host and port"
            )
    return document


def write_document(path: Path, document: TOMLDocument) -> None:
    """Write ``document`` to ``path`` atomically: temporary file, fsync, ``os.replace``.

    A reader sees the old file or the new one, never a part. The file's permissions
    are kept; a symbolic link is followed, not replaced.
    """
    target = path.resolve() if path.is_symlink() else path
    temporary = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(tomlkit.dumps(document).rstrip("\n") + "\n")  # one newline at EOF
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
        temporary = ""
        if os.name == "posix":
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    finally:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


class AERegistry:
    """The remote AEs of one home: the ``[ae.NAME]`` tables of ``pacslink.toml``.

    Every call reads the file afresh (nothing is cached) and every change is written
    atomically with the user's comments and layout kept.

    Parameters
    ----------
    path : Path
        The TOML file; it need not exist yet.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_home(cls, home: Path) -> AERegistry:
        """Return the registry of ``<home>/pacslink.toml``."""
        return cls(Path(home) / CONFIG_FILENAME)

    def list(self) -> builtins.list[RemoteAE]:
        """Return every configured AE in file order, validated.

        Raises
        ------
        ConfigError
            ``<path>: [ae.NAME] <key>: <problem>`` for the first invalid entry.
        """
        return builtins.list(_ae_entries(read_document(self.path), self.path).values())

    def get(self, name: str) -> RemoteAE:
        """Return the AE called ``name`` (exact, else the one matching case-insensitively).

        Raises
        ------
        ConfigError
            No such AE; the message lists the known names.
        """
        entries = _ae_entries(read_document(self.path), self.path)
        return entries[self._find(entries, name)]

    def add(self, ae: RemoteAE) -> RemoteAE:
        """Validate ``ae`` and append it as a new ``[ae.NAME]`` table; return it normalised.

        Raises
        ------
        ConfigError
            An invalid field, or an AE of that name (in any letter case) exists.
        """
        new = self._validated(ae)
        document = self._document()
        self._check_free(_ae_entries(document, self.path), new.name)
        _set_table(document, new)
        write_document(self.path, document)
        return new

    def edit(self, name: str, /, **changes: Any) -> RemoteAE:
        """Change fields of the AE ``name`` and return the new entry.

        Parameters
        ----------
        name : str
            The AE to change.
        **changes
            Any of ``name`` (renames), ``ae_title``, ``host``, ``port``,
            ``description``, ``retrieve``, ``tls``.
        """
        allowed = {"name", "ae_title", "host", "port", "description", "retrieve", "tls"}
        if set(changes) - allowed:
            raise TypeError(
                f"cannot change {sorted(set(changes) - allowed)}; allowed: {sorted(allowed)}"
            )
        document = self._document()
        entries = _ae_entries(document, self.path)
        key = self._find(entries, name)
        new = self._validated(replace(entries[key], **changes))
        if new.name != key:
            self._check_free({k: v for k, v in entries.items() if k != key}, new.name)
            _rename_table(document, key, new.name)
        _set_table(document, new)
        write_document(self.path, document)
        return new

    def remove(self, name: str) -> RemoteAE | None:
        """Remove the AE ``name`` with the comment block right above its table.

        Other entries are not validated, so a broken entry can always be removed.

        Returns
        -------
        RemoteAE or None
            The removed entry, or ``None`` when it was itself invalid.
        """
        document = self._document()
        key = self._find(dict.fromkeys(document.get("ae", {})), name)
        try:
            removed: RemoteAE | None = _ae_entries(document, self.path, only=key)[key]
        except ConfigError:
            removed = None
        _remove_table(document, key)
        write_document(self.path, document)
        return removed

    def _document(self) -> TOMLDocument:
        document = read_document(self.path, create=True)
        assert document is not None  # create=True never gives None
        return document

    def _validated(self, ae: RemoteAE) -> RemoteAE:
        try:
            return validate_remote_ae(ae)
        except ConfigError as exc:
            raise type(exc)(f"{_table_ref(ae.name)} {exc}") from exc

    def _check_free(self, entries: Mapping[str, object], name: str) -> None:
        for existing in entries:
            if existing.lower() == name.lower():
                raise ConfigError(
                    f"a remote AE named {existing!r} already exists in {self.path}; "
                    f"choose another name or change it with `pacslink ae edit {existing}`"
                )

    def _find(self, entries: Mapping[str, object], name: str) -> str:
        if name in entries:
            return name
        folded = [key for key in entries if key.lower() == name.lower()]
        if len(folded) == 1:
            return folded[0]
        if not entries:
            raise ConfigError(
                f"no remote AE named {name!r}: none are configured yet; add one with "
                "`pacslink ae add NAME --aet AET --host HOST --port PORT`"
            )
        close = difflib.get_close_matches(name, builtins.list(entries), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"no remote AE named {name!r}; {hint}known: {', '.join(entries)} "
            "(see `pacslink ae list`)"
        )


def resolve_ae(spec: str, registry: AERegistry) -> RemoteAE:
    """Return the AE a user means: a configured name or an ``AET@host:port`` address.

    An address gives an ad-hoc :class:`~pacslink.models.RemoteAE` named after it, e.g.
    ``ORTHANC@127.0.0.1:4242`` or ``ORTHANC@[::1]:4242``.
    """
    if "@" not in spec:
        return registry.get(spec)
    ae_title, host, port = parse_ae_address(spec)
    shown = f"[{host}]" if ":" in host else host
    return RemoteAE(name=f"{ae_title}@{shown}:{port}", ae_title=ae_title, host=host, port=port)


def _table_ref(name: str) -> str:
    """Return the TOML header of an AE entry: ``[ae.PACS1]``, ``[ae."PACS.1"]``."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return f"[ae.{name}]"
    return '[ae."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def _ae_entries(
    document: TOMLDocument | None, path: Path, only: str | None = None
) -> dict[str, RemoteAE]:
    """Return the validated ``[ae.NAME]`` entries of a parsed file, in file order.

    Parameters
    ----------
    document : TOMLDocument or None
        The parsed file (``None`` when it does not exist).
    path : Path
        The file, for error messages.
    only : str, optional
        Validate and return this entry only.

    Raises
    ------
    ConfigError
        ``<path>: [ae.NAME] <key>: <problem>`` for the first invalid entry.
    """
    tables: Mapping[str, Any] = document.get("ae", {}) if document is not None else {}
    entries: dict[str, RemoteAE] = {}
    for name, table in tables.items():
        if only is not None and name != only:
            continue
        try:
            entries[name] = remote_ae_from_mapping(name, table.unwrap())
        except ConfigError as exc:
            raise type(exc)(f"{path}: {_table_ref(name)} {exc}") from exc
    return entries


def _set_table(document: TOMLDocument, ae: RemoteAE) -> None:
    """Write ``ae`` into its ``[ae.NAME]`` table, creating it at the end if needed.

    Only keys whose value changes are touched, so their comments and formatting stay.
    """
    if "ae" not in document:
        document.add("ae", tomlkit.table(is_super_table=True))
    tables = document["ae"]
    values = remote_ae_to_mapping(ae)
    if ae.name not in tables:
        table = tomlkit.table()
        for key in AE_KEYS:
            if key in values:
                table.add(key, values[key])
        tables.add(ae.name, table)
        return
    table = tables[ae.name]
    body = table.value.body
    trailing: list[
        tuple[Any, Any]
    ] = []  # comments and blank lines after the last key belong to the next table
    while body and body[-1][0] is None:
        trailing.insert(0, body.pop())
    defaults = {"description": "", "retrieve": RetrieveMethod.AUTO.value, "tls": False}
    for key in AE_KEYS:
        value = values.get(key, defaults.get(key))
        if value == table.get(key, defaults.get(key)):
            continue  # unchanged, or absent and still the default: leave the text alone
        if (key, value) in (("description", ""), ("tls", False)):
            del table[key]
        else:
            table[key] = value
    body.extend(trailing)


def _rename_table(document: TOMLDocument, old: str, new: str) -> None:
    """Rename ``[ae.OLD]`` to ``[ae.NEW]`` in place, keeping its comments and position."""
    tables = document["ae"]
    table = tables[old]
    container = getattr(tables, "value", None)
    if isinstance(table, Table) and isinstance(container, Container):
        body = table.value.body
        length = len(body)
        table.invalidate_display_name()
        container._replace(old, new, table)  # tomlkit has no public rename
        del body[length:]  # the blank line tomlkit adds would part the next comments
    else:  # an unusual layout (out-of-order tables): move it to the end instead
        del tables[old]
        tables.add(new, table)


def _remove_table(document: TOMLDocument, name: str) -> None:
    """Delete ``[ae.NAME]`` and the comment lines directly above its header."""
    tables = document["ae"]
    target = tables[name]
    order: list[Table | tuple[Container, int]] = []

    def walk(container: Container) -> None:
        for index, (_, item) in enumerate(container.body):
            if isinstance(item, Table):
                order.append(item)
                walk(item.value)
            else:
                order.append((container, index))

    walk(document)
    position = next((i for i, entry in enumerate(order) if entry is target), 0)
    for entry in reversed(order[:position]):
        if isinstance(entry, Table):
            if entry.is_super_table():
                continue
            break
        container, index = entry
        if not isinstance(container.body[index][1], Comment):
            break
        container.body[index] = (None, Null())  # keeps the other items' indices valid
    del tables[name]


__all__ = [
    "CONFIG_FILENAME",
    "AERegistry",
    "read_document",
    "resolve_ae",
    "write_document",
]
