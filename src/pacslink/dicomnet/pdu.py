"""Protocol Data Units of the DICOM Upper Layer (PS3.8 9.3) and their items.

Each PDU is a frozen dataclass with ``encode() -> bytes`` and a ``decode(body)``
classmethod that takes the bytes after the 6-byte PDU header. Decoding is strict about
structure (lengths must add up; a violation raises :class:`PDUError`, which the
association answers with A-ABORT) and tolerant about content: unknown variable items
and user-information sub-items are kept as :class:`RawItem` so they can be passed
through or ignored, as PS3.8 9.3.1 asks.

Byte layout reminders (all integers big endian, PS3.8 9.3):

* PDU header: type (1), reserved (1), length (4).
* A-ASSOCIATE-RQ/AC: protocol version (2), reserved (2), called AE (16), calling AE (16),
  reserved (32), then items.
* Item header: type (1), reserved (1), length (2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pacslink.dicomnet.errors import PDUError
from pacslink.dicomnet.items import (  # noqa: F401 - re-exported: the items are part of the PDUs
    ABSTRACT_SYNTAX_NOT_SUPPORTED,
    ACCEPTANCE,
    NO_REASON,
    TRANSFER_SYNTAXES_NOT_SUPPORTED,
    USER_REJECTION,
    AsyncOpsWindow,
    PresentationContextAC,
    PresentationContextRQ,
    RawItem,
    SCPSCURoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    SubItem,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    _ae_field,
    _item,
    _text,
    _uid_bytes,
    iter_items,
)

# PDU types (PS3.8 Table 9-11 ff.)
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07
PDU_TYPES = frozenset(range(1, 8))

#: Application Context Name for DICOM (PS3.7 A.2.1).
APPLICATION_CONTEXT_NAME = "1.2.840.10008.3.1.1.1"

_HEADER = struct.Struct(">BxL")


def encode_pdu(pdu_type: int, body: bytes) -> bytes:
    """Prefix ``body`` with a PDU header (PS3.8 9.3.1)."""
    return _HEADER.pack(pdu_type, len(body)) + body


def decode_pdu_header(header: bytes) -> tuple[int, int]:
    """Return ``(pdu_type, length)`` from the 6-byte PDU header."""
    pdu_type, length = _HEADER.unpack(header)
    return pdu_type, length


# --- PDUs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssociateRQ:
    """A-ASSOCIATE-RQ PDU (PS3.8 9.3.2)."""

    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple[PresentationContextRQ, ...]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context: str = APPLICATION_CONTEXT_NAME
    protocol_version: int = 1
    other_items: tuple[RawItem, ...] = ()
    pdu_type: ClassVar[int] = A_ASSOCIATE_RQ

    def encode(self) -> bytes:
        return encode_pdu(self.pdu_type, _associate_body(self))

    @classmethod
    def decode(cls, body: bytes) -> AssociateRQ:
        version, called, calling, items = _decode_associate_fixed(body)
        app, ui, others = "", UserInformation(), []
        contexts: list[PresentationContextRQ] = []
        for item_type, value in items:
            if item_type == 0x10:
                app = _text(value)
            elif item_type == 0x20:
                contexts.append(PresentationContextRQ.decode(value))
            elif item_type == 0x50:
                ui = UserInformation.decode(value)
            else:
                others.append(RawItem(item_type, value))
        return cls(called, calling, tuple(contexts), ui, app, version, tuple(others))


@dataclass(frozen=True)
class AssociateAC:
    """A-ASSOCIATE-AC PDU (PS3.8 9.3.3).

    The AE title fields echo the request's (PS3.8 9.3.3: "shall not be tested").
    """

    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple[PresentationContextAC, ...]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context: str = APPLICATION_CONTEXT_NAME
    protocol_version: int = 1
    other_items: tuple[RawItem, ...] = ()
    pdu_type: ClassVar[int] = A_ASSOCIATE_AC

    def encode(self) -> bytes:
        return encode_pdu(self.pdu_type, _associate_body(self))

    @classmethod
    def decode(cls, body: bytes) -> AssociateAC:
        version, called, calling, items = _decode_associate_fixed(body)
        app, ui, others = "", UserInformation(), []
        contexts: list[PresentationContextAC] = []
        for item_type, value in items:
            if item_type == 0x10:
                app = _text(value)
            elif item_type == 0x21:
                contexts.append(PresentationContextAC.decode(value))
            elif item_type == 0x50:
                ui = UserInformation.decode(value)
            else:
                others.append(RawItem(item_type, value))
        return cls(called, calling, tuple(contexts), ui, app, version, tuple(others))


def _associate_body(pdu: AssociateRQ | AssociateAC) -> bytes:
    body = struct.pack(">HH", pdu.protocol_version, 0)
    body += _ae_field(pdu.called_ae_title) + _ae_field(pdu.calling_ae_title) + bytes(32)
    body += _item(0x10, _uid_bytes(pdu.application_context))
    body += b"".join(pc.encode() for pc in pdu.presentation_contexts)
    body += pdu.user_information.encode()
    body += b"".join(item.encode() for item in pdu.other_items)
    return body


def _decode_associate_fixed(body: bytes) -> tuple[int, str, str, list[tuple[int, bytes]]]:
    if len(body) < 68:
        raise PDUError(f"A-ASSOCIATE PDU body is {len(body)} bytes, at least 68 required")
    (version,) = struct.unpack_from(">H", body)
    called = body[4:20].decode("ascii", errors="replace").strip(" \x00")
    calling = body[20:36].decode("ascii", errors="replace").strip(" \x00")
    return version, called, calling, iter_items(memoryview(body)[68:], "A-ASSOCIATE")


#: A-ASSOCIATE-RJ result, source and reason values (PS3.8 Table 9-21).
RJ_PERMANENT = 1
RJ_TRANSIENT = 2
RJ_SOURCE_USER = 1
RJ_SOURCE_ACSE = 2
RJ_SOURCE_PRESENTATION = 3

_RJ_REASONS = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognized",
    (1, 7): "called AE title not recognized",
    (2, 1): "no reason given",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}


@dataclass(frozen=True)
class AssociateRJ:
    """A-ASSOCIATE-RJ PDU (PS3.8 9.3.4)."""

    result: int
    source: int
    reason: int
    pdu_type: ClassVar[int] = A_ASSOCIATE_RJ

    def encode(self) -> bytes:
        return encode_pdu(self.pdu_type, bytes([0, self.result, self.source, self.reason]))

    @classmethod
    def decode(cls, body: bytes) -> AssociateRJ:
        if len(body) != 4:
            raise PDUError(f"A-ASSOCIATE-RJ body must be 4 bytes, got {len(body)}")
        return cls(body[1], body[2], body[3])

    def describe(self) -> str:
        """The rejection in words, e.g. ``"permanent: called AE title not recognized"``."""
        kind = {1: "permanent", 2: "transient"}.get(self.result, f"result {self.result}")
        reason = _RJ_REASONS.get((self.source, self.reason), f"reason {self.reason}")
        return f"{kind}: {reason}"


@dataclass(frozen=True)
class PDV:
    """Presentation Data Value item (PS3.8 9.3.5.1, Annex E.2).

    ``is_command`` and ``is_last`` are bits 0 and 1 of the message control header.
    """

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes | memoryview

    @property
    def control_header(self) -> int:
        return (1 if self.is_command else 0) | (2 if self.is_last else 0)


@dataclass(frozen=True)
class PDataTF:
    """P-DATA-TF PDU (PS3.8 9.3.5) carrying one or more PDVs."""

    pdvs: tuple[PDV, ...]
    pdu_type: ClassVar[int] = P_DATA_TF

    def encode(self) -> bytes:
        parts = []
        for pdv in self.pdvs:
            parts.append(struct.pack(">LBB", len(pdv.data) + 2, pdv.context_id, pdv.control_header))
            parts.append(bytes(pdv.data))
        return encode_pdu(P_DATA_TF, b"".join(parts))

    @classmethod
    def decode(cls, body: bytes | memoryview) -> PDataTF:
        return cls(tuple(iter_pdvs(body)))


def iter_pdvs(body: bytes | memoryview) -> list[PDV]:
    """Split a P-DATA-TF body into PDVs without copying the fragments."""
    view = memoryview(body)
    out: list[PDV] = []
    pos = 0
    if not view:
        raise PDUError("P-DATA-TF carries no presentation data value")
    while pos < len(view):
        if len(view) - pos < 6:
            raise PDUError("P-DATA-TF: truncated PDV header")
        length, context_id, mch = struct.unpack_from(">LBB", view, pos)
        if length < 2 or pos + 4 + length > len(view):
            raise PDUError(f"P-DATA-TF: PDV length {length} does not fit the PDU")
        if mch & 0xFC:
            raise PDUError(f"P-DATA-TF: reserved bits set in message control header 0x{mch:02X}")
        out.append(PDV(context_id, bool(mch & 1), bool(mch & 2), view[pos + 6 : pos + 4 + length]))
        pos += 4 + length
    return out


@dataclass(frozen=True)
class ReleaseRQ:
    """A-RELEASE-RQ PDU (PS3.8 9.3.6)."""

    pdu_type: ClassVar[int] = A_RELEASE_RQ

    def encode(self) -> bytes:
        return encode_pdu(self.pdu_type, bytes(4))

    @classmethod
    def decode(cls, body: bytes) -> ReleaseRQ:
        return cls()


@dataclass(frozen=True)
class ReleaseRP:
    """A-RELEASE-RP PDU (PS3.8 9.3.7)."""

    pdu_type: ClassVar[int] = A_RELEASE_RP

    def encode(self) -> bytes:
        return encode_pdu(self.pdu_type, bytes(4))

    @classmethod
    def decode(cls, body: bytes) -> ReleaseRP:
        return cls()


#: A-ABORT sources (PS3.8 Table 9-26) and provider reasons.
ABORT_SOURCE_USER = 0
ABORT_SOURCE_PROVIDER = 2
ABORT_REASON_NOT_SPECIFIED = 0
ABORT_REASON_UNRECOGNIZED_PDU = 1
ABORT_REASON_UNEXPECTED_PDU = 2
ABORT_REASON_UNRECOGNIZED_PARAMETER = 4
ABORT_REASON_UNEXPECTED_PARAMETER = 5
ABORT_REASON_INVALID_PARAMETER = 6

_ABORT_REASONS = {
    0: "reason not specified", 1: "unrecognized PDU", 2: "unexpected PDU",
    4: "unrecognized PDU parameter", 5: "unexpected PDU parameter", 6: "invalid PDU parameter value",
}


@dataclass(frozen=True)
class Abort:
    """A-ABORT PDU (PS3.8 9.3.8)."""

    source: int = ABORT_SOURCE_USER
    reason: int = ABORT_REASON_NOT_SPECIFIED
    pdu_type: ClassVar[int] = A_ABORT

    def encode(self) -> bytes:
        return encode_pdu(self.pdu_type, bytes([0, 0, self.source, self.reason]))

    @classmethod
    def decode(cls, body: bytes) -> Abort:
        return cls(body[2], body[3])

    def describe(self) -> str:
        who = {0: "the peer (service user)", 2: "the peer's DICOM service provider"}
        source = who.get(self.source, f"source {self.source}")
        if self.source == ABORT_SOURCE_PROVIDER:
            return f"aborted by {source}: {_ABORT_REASONS.get(self.reason, self.reason)}"
        return f"aborted by {source}"


PDU = AssociateRQ | AssociateAC | AssociateRJ | PDataTF | ReleaseRQ | ReleaseRP | Abort

#: Fixed body lengths PS3.8 prescribes; anything else is an invalid PDU.
FIXED_LENGTHS = {A_ASSOCIATE_RJ: 4, A_RELEASE_RQ: 4, A_RELEASE_RP: 4, A_ABORT: 4}

_DECODERS: dict[int, Any] = {
    A_ASSOCIATE_RQ: AssociateRQ, A_ASSOCIATE_AC: AssociateAC, A_ASSOCIATE_RJ: AssociateRJ,
    P_DATA_TF: PDataTF, A_RELEASE_RQ: ReleaseRQ, A_RELEASE_RP: ReleaseRP, A_ABORT: Abort,
}


def decode_pdu(pdu_type: int, body: bytes) -> PDU:
    """Decode a PDU body of a known type, raising :class:`PDUError` when malformed."""
    if pdu_type not in _DECODERS:
        raise PDUError(f"unrecognized PDU type 0x{pdu_type:02X}")
    fixed = FIXED_LENGTHS.get(pdu_type)
    if fixed is not None and len(body) != fixed:
        raise PDUError(f"PDU type 0x{pdu_type:02X} must have length {fixed}, got {len(body)}")
    try:
        decoded: PDU = _DECODERS[pdu_type].decode(body)
        return decoded
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise PDUError(f"malformed PDU type 0x{pdu_type:02X}: {exc}") from exc
