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
from typing import Any, ClassVar, TypeVar

from pacslink.dicomnet.errors import PDUError

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

_T = TypeVar("_T")
_HEADER = struct.Struct(">BxL")
_ITEM_HEADER = struct.Struct(">BxH")


def encode_pdu(pdu_type: int, body: bytes) -> bytes:
    """Prefix ``body`` with a PDU header (PS3.8 9.3.1)."""
    return _HEADER.pack(pdu_type, len(body)) + body


def decode_pdu_header(header: bytes) -> tuple[int, int]:
    """Return ``(pdu_type, length)`` from the 6-byte PDU header."""
    pdu_type, length = _HEADER.unpack(header)
    return pdu_type, length


def _item(item_type: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise PDUError(f"item 0x{item_type:02X} too long ({len(value)} bytes)")
    return _ITEM_HEADER.pack(item_type, len(value)) + value


def _uid_bytes(uid: str) -> bytes:
    return uid.encode("ascii")


def _text(value: bytes) -> str:
    """Decode a UID or name field, ignoring trailing NUL/space padding (PS3.8 9.3.2.2)."""
    return value.rstrip(b"\x00 ").decode("ascii", errors="replace")


def _ae_field(title: str) -> bytes:
    raw = title.encode("ascii", errors="replace")[:16]
    return raw.ljust(16, b" ")


def iter_items(data: bytes | memoryview, where: str) -> list[tuple[int, bytes]]:
    """Split a sequence of items into ``(type, value)`` pairs, checking every length."""
    view = memoryview(data)
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(view):
        if len(view) - pos < 4:
            raise PDUError(f"{where}: truncated item header at offset {pos}")
        item_type, length = _ITEM_HEADER.unpack_from(view, pos)
        pos += 4
        if pos + length > len(view):
            raise PDUError(
                f"{where}: item 0x{item_type:02X} claims {length} bytes, {len(view) - pos} left"
            )
        out.append((item_type, bytes(view[pos : pos + length])))
        pos += length
    return out


@dataclass(frozen=True)
class RawItem:
    """An item or sub-item pacslink does not interpret, kept byte for byte."""

    item_type: int
    value: bytes

    def encode(self) -> bytes:
        return _item(self.item_type, self.value)


# --- presentation context items ------------------------------------------------------------


@dataclass(frozen=True)
class PresentationContextRQ:
    """Presentation Context Item of an A-ASSOCIATE-RQ (PS3.8 9.3.2.2, type 0x20)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]

    def encode(self) -> bytes:
        sub = _item(0x30, _uid_bytes(self.abstract_syntax))
        sub += b"".join(_item(0x40, _uid_bytes(ts)) for ts in self.transfer_syntaxes)
        return _item(0x20, bytes([self.context_id, 0, 0, 0]) + sub)

    @classmethod
    def decode(cls, value: bytes) -> PresentationContextRQ:
        if len(value) < 4:
            raise PDUError("presentation context item (0x20) shorter than 4 bytes")
        abstract: str | None = None
        transfer: list[str] = []
        for sub_type, sub_value in iter_items(value[4:], "presentation context"):
            if sub_type == 0x30:
                abstract = _text(sub_value)
            elif sub_type == 0x40:
                transfer.append(_text(sub_value))
        if abstract is None:
            raise PDUError(f"presentation context {value[0]} has no abstract syntax")
        return cls(value[0], abstract, tuple(transfer))


#: Presentation context results (PS3.8 Table 9-18).
ACCEPTANCE = 0
USER_REJECTION = 1
NO_REASON = 2
ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


@dataclass(frozen=True)
class PresentationContextAC:
    """Presentation Context Item of an A-ASSOCIATE-AC (PS3.8 9.3.3.2, type 0x21)."""

    context_id: int
    result: int
    transfer_syntax: str = ""

    def encode(self) -> bytes:
        # The sub-item is always sent; when result != 0 its value is not significant.
        sub = _item(0x40, _uid_bytes(self.transfer_syntax))
        return _item(0x21, bytes([self.context_id, 0, self.result, 0]) + sub)

    @classmethod
    def decode(cls, value: bytes) -> PresentationContextAC:
        if len(value) < 4:
            raise PDUError("presentation context item (0x21) shorter than 4 bytes")
        ts = ""
        for sub_type, sub_value in iter_items(value[4:], "presentation context"):
            if sub_type == 0x40:
                ts = _text(sub_value)
        return cls(value[0], value[2], ts)


# --- user information sub-items (PS3.7 Annex D.3.3, PS3.8 Annex D) ---------------------------


@dataclass(frozen=True)
class SCPSCURoleSelection:
    """SCP/SCU Role Selection Sub-Item (PS3.7 D.3.3.4, type 0x54)."""

    sop_class_uid: str
    scu_role: bool
    scp_role: bool
    item_type: ClassVar[int] = 0x54

    def encode(self) -> bytes:
        uid = _uid_bytes(self.sop_class_uid)
        value = struct.pack(">H", len(uid)) + uid + bytes([self.scu_role, self.scp_role])
        return _item(0x54, value)

    @classmethod
    def decode(cls, value: bytes) -> SCPSCURoleSelection:
        if len(value) < 2:
            raise PDUError("role selection sub-item shorter than 2 bytes")
        (n,) = struct.unpack_from(">H", value)
        if len(value) != 2 + n + 2:
            raise PDUError("role selection sub-item length does not match its UID length")
        return cls(_text(value[2 : 2 + n]), bool(value[2 + n]), bool(value[3 + n]))


@dataclass(frozen=True)
class AsyncOpsWindow:
    """Asynchronous Operations Window Sub-Item (PS3.7 D.3.3.3, type 0x53)."""

    max_invoked: int = 1
    max_performed: int = 1
    item_type: ClassVar[int] = 0x53

    def encode(self) -> bytes:
        return _item(0x53, struct.pack(">HH", self.max_invoked, self.max_performed))

    @classmethod
    def decode(cls, value: bytes) -> AsyncOpsWindow:
        if len(value) != 4:
            raise PDUError("asynchronous operations window sub-item must be 4 bytes")
        invoked, performed = struct.unpack(">HH", value)
        return cls(invoked, performed)


@dataclass(frozen=True)
class SOPClassExtendedNegotiation:
    """SOP Class Extended Negotiation Sub-Item (PS3.7 D.3.3.5, type 0x56)."""

    sop_class_uid: str
    application_info: bytes
    item_type: ClassVar[int] = 0x56

    def encode(self) -> bytes:
        uid = _uid_bytes(self.sop_class_uid)
        return _item(0x56, struct.pack(">H", len(uid)) + uid + self.application_info)

    @classmethod
    def decode(cls, value: bytes) -> SOPClassExtendedNegotiation:
        if len(value) < 2:
            raise PDUError("extended negotiation sub-item shorter than 2 bytes")
        (n,) = struct.unpack_from(">H", value)
        if 2 + n > len(value):
            raise PDUError("extended negotiation sub-item UID overruns the item")
        return cls(_text(value[2 : 2 + n]), bytes(value[2 + n :]))


@dataclass(frozen=True)
class SOPClassCommonExtendedNegotiation:
    """SOP Class Common Extended Negotiation Sub-Item (PS3.7 D.3.3.6, type 0x57)."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_classes: tuple[str, ...] = ()
    item_type: ClassVar[int] = 0x57

    def encode(self) -> bytes:
        sop = _uid_bytes(self.sop_class_uid)
        svc = _uid_bytes(self.service_class_uid)
        related = b"".join(
            struct.pack(">H", len(u)) + u
            for u in (_uid_bytes(x) for x in self.related_general_sop_classes)
        )
        value = (
            struct.pack(">H", len(sop)) + sop + struct.pack(">H", len(svc)) + svc
            + struct.pack(">H", len(related)) + related
        )
        return _item(0x57, value)

    @classmethod
    def decode(cls, value: bytes) -> SOPClassCommonExtendedNegotiation:
        try:
            pos = 0
            fields: list[bytes] = []
            for _ in range(3):
                (n,) = struct.unpack_from(">H", value, pos)
                fields.append(value[pos + 2 : pos + 2 + n])
                pos += 2 + n
            if pos != len(value):
                raise PDUError("common extended negotiation sub-item has trailing bytes")
            related: list[str] = []
            rpos = 0
            block = fields[2]
            while rpos < len(block):
                (n,) = struct.unpack_from(">H", block, rpos)
                related.append(_text(block[rpos + 2 : rpos + 2 + n]))
                rpos += 2 + n
        except struct.error as exc:
            raise PDUError("common extended negotiation sub-item is truncated") from exc
        return cls(_text(fields[0]), _text(fields[1]), tuple(related))


@dataclass(frozen=True)
class UserIdentityRQ:
    """User Identity Negotiation Sub-Item, request (PS3.7 D.3.3.7.1, type 0x58)."""

    identity_type: int
    positive_response_requested: bool
    primary_field: bytes
    secondary_field: bytes = b""
    item_type: ClassVar[int] = 0x58

    def encode(self) -> bytes:
        value = (
            bytes([self.identity_type, self.positive_response_requested])
            + struct.pack(">H", len(self.primary_field)) + self.primary_field
            + struct.pack(">H", len(self.secondary_field)) + self.secondary_field
        )
        return _item(0x58, value)

    @classmethod
    def decode(cls, value: bytes) -> UserIdentityRQ:
        try:
            (n,) = struct.unpack_from(">H", value, 2)
            primary = value[4 : 4 + n]
            (m,) = struct.unpack_from(">H", value, 4 + n)
            secondary = value[6 + n : 6 + n + m]
        except struct.error as exc:
            raise PDUError("user identity sub-item is truncated") from exc
        if 6 + n + m != len(value):
            raise PDUError("user identity sub-item lengths do not add up")
        return cls(value[0], bool(value[1]), bytes(primary), bytes(secondary))


@dataclass(frozen=True)
class UserIdentityAC:
    """User Identity Negotiation Sub-Item, response (PS3.7 D.3.3.7.2, type 0x59)."""

    server_response: bytes
    item_type: ClassVar[int] = 0x59

    def encode(self) -> bytes:
        return _item(0x59, struct.pack(">H", len(self.server_response)) + self.server_response)

    @classmethod
    def decode(cls, value: bytes) -> UserIdentityAC:
        if len(value) < 2 or struct.unpack_from(">H", value)[0] != len(value) - 2:
            raise PDUError("user identity response sub-item lengths do not add up")
        return cls(bytes(value[2:]))


SubItem = (
    SCPSCURoleSelection | AsyncOpsWindow | SOPClassExtendedNegotiation
    | SOPClassCommonExtendedNegotiation | UserIdentityRQ | UserIdentityAC | RawItem
)


@dataclass(frozen=True)
class UserInformation:
    """User Information Item (PS3.8 9.3.2.3, type 0x50) with its sub-items.

    ``max_length`` 0 means "no limit" (PS3.8 D.1).
    """

    max_length: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    sub_items: tuple[SubItem, ...] = ()

    def encode(self) -> bytes:
        value = _item(0x51, struct.pack(">L", self.max_length))
        value += _item(0x52, _uid_bytes(self.implementation_class_uid))
        ordered = sorted(self.sub_items, key=lambda s: s.item_type)
        before = [s for s in ordered if s.item_type < 0x55]
        after = [s for s in ordered if s.item_type >= 0x55]
        value += b"".join(s.encode() for s in before)
        if self.implementation_version_name:
            value += _item(0x55, self.implementation_version_name.encode("ascii"))
        value += b"".join(s.encode() for s in after)
        return _item(0x50, value)

    @classmethod
    def decode(cls, value: bytes) -> UserInformation:
        max_length = 0
        class_uid = ""
        version = ""
        subs: list[SubItem] = []
        decoders: dict[int, Any] = {
            0x53: AsyncOpsWindow, 0x54: SCPSCURoleSelection, 0x56: SOPClassExtendedNegotiation,
            0x57: SOPClassCommonExtendedNegotiation, 0x58: UserIdentityRQ, 0x59: UserIdentityAC,
        }
        for sub_type, sub_value in iter_items(value, "user information"):
            if sub_type == 0x51:
                if len(sub_value) != 4:
                    raise PDUError("maximum length sub-item must be 4 bytes")
                (max_length,) = struct.unpack(">L", sub_value)
            elif sub_type == 0x52:
                class_uid = _text(sub_value)
            elif sub_type == 0x55:
                version = _text(sub_value)
            elif sub_type in decoders:
                subs.append(decoders[sub_type].decode(sub_value))
            else:
                subs.append(RawItem(sub_type, sub_value))
        return cls(max_length, class_uid, version, tuple(subs))

    def items_of(self, kind: type[_T]) -> list[_T]:
        """All sub-items of one class, e.g. ``ui.items_of(SCPSCURoleSelection)``."""
        return [s for s in self.sub_items if isinstance(s, kind)]


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
