"""Items and sub-items of A-ASSOCIATE PDUs (PS3.8 9.3.2.2-9.3.3.3, PS3.7 Annex D.3.3).

Presentation context items, the User Information item and its sub-items: maximum
length, implementation identity, SCP/SCU role selection, asynchronous operations window,
(common) extended negotiation and user identity. Unknown ones are kept as
:class:`RawItem`. Each has ``encode()`` and ``decode(value)``; decoding checks every
length and raises :class:`~pacslink.dicomnet.errors.PDUError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pacslink.dicomnet.errors import PDUError

_T = TypeVar("_T")
_ITEM_HEADER = struct.Struct(">BxH")

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
