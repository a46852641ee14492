"""Exceptions of the DICOM network engine.

::

    NetworkError                  anything that went wrong talking to a peer
    ├── PDUError                  a malformed or unexpected PDU (we answer with A-ABORT)
    ├── AssociationRejected       the peer sent A-ASSOCIATE-RJ (``.rj`` says why)
    ├── AssociationAborted        the peer sent A-ABORT, or the connection dropped
    ├── NetworkTimeout            a deadline passed (ARTIM, per-PDU, DIMSE or idle)
    ├── ConnectError              TCP connection could not be opened
    │   └── TLSError              the TLS handshake failed (PS3.15 B.1)
    ├── DIMSEError                a DIMSE message was malformed or out of place
    │   └── DatasetTooLarge       a data set received into memory passed its cap
    └── NoAcceptedContext         the peer accepted no presentation context we can use

The engine has no dependency on the rest of pacslink; pacslink's own error tree wraps
these at the adapter layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pacslink.dicomnet.pdu import AssociateRJ


class NetworkError(Exception):
    """Base class of every network-engine error."""


class PDUError(NetworkError):
    """A PDU is malformed, too long, of unknown type or out of the state order."""


class AssociationRejected(NetworkError):
    """The peer rejected the association (PS3.8 9.3.4)."""

    def __init__(self, rj: AssociateRJ) -> None:
        super().__init__(f"association rejected ({rj.describe()})")
        self.rj = rj


class AssociationAborted(NetworkError):
    """The association ended without an orderly release."""


class NetworkTimeout(NetworkError):
    """A network deadline passed."""


class ConnectError(NetworkError):
    """The TCP connection to the peer could not be made."""


class DIMSEError(NetworkError):
    """A DIMSE message could not be decoded or arrived out of place."""


class DatasetTooLarge(DIMSEError):
    """A data set received into memory grew past its cap; the association was aborted.

    ``limit`` is the cap in bytes that was passed.
    """

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class NoAcceptedContext(NetworkError):
    """No accepted presentation context fits what we want to send."""


class TLSError(ConnectError):
    """The DICOM TLS handshake failed (PS3.15 B.1): certificate, version or not TLS at all."""
