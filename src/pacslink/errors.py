"""The one exception tree of pacslink.

Every boundary (socket, file system, pydicom, SQL) translates what it catches into one of
these, with ``raise ... from exc``, and a message that says what to do next. The CLI turns
them into one line and an exit code; the web UI into JSON or HTML.

::

    PacslinkError
    ├── ConfigError              settings or AE registry file invalid, unknown AE name
    │   └── AETitleError         an AE title breaks PS3.5 rules
    ├── QueryError               Q/R identifier invalid, or a received one unreadable
    ├── StoreError               local store / index problem
    │   ├── StoreFullError       disk full or below the free-space floor   -> 0xA700
    │   │   └── InstanceTooLargeError  larger than max_instance_mb          -> 0xA700
    │   ├── DatasetMismatchError data set UIDs differ from the command     -> 0xA900
    │   └── DatasetParseError    received data set cannot be parsed        -> 0xC000
    └── NetworkError             anything on the wire (defined in pacslink.dicomnet.errors)
"""

from __future__ import annotations


class PacslinkError(Exception):
    """Base of every error pacslink raises on purpose."""


class ConfigError(PacslinkError):
    """A setting, the settings file or the remote-AE registry is invalid."""


class AETitleError(ConfigError):
    """An AE title breaks PS3.5 6.2 (1-16 characters, no backslash or control chars)."""


class QueryError(PacslinkError):
    """A C-FIND/C-MOVE/C-GET identifier is invalid (PS3.4 Annex C), or unreadable when received."""


class StoreError(PacslinkError):
    """The local store or its index failed."""


class StoreFullError(StoreError):
    """No room: the disk is full or free space is below the configured floor."""


class InstanceTooLargeError(StoreFullError):
    """The instance is larger than the configured ``max_instance_mb``."""


class DatasetMismatchError(StoreError):
    """The data set's SOP Class/Instance UID differs from the C-STORE command's."""


class DatasetParseError(StoreError):
    """The received data set cannot be parsed as DICOM."""


__all__ = [
    "AETitleError",
    "ConfigError",
    "DatasetMismatchError",
    "DatasetParseError",
    "InstanceTooLargeError",
    "PacslinkError",
    "QueryError",
    "StoreError",
    "StoreFullError",
]
