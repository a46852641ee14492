"""DIMSE command sets (PS3.7 6.3, 9.3 and Annex E), encoded by hand.

A command set is a group 0000 data set, always Implicit VR Little Endian, starting with
(0000,0000) CommandGroupLength. It is small and fixed, so pacslink codes it directly
rather than going through a general data set writer: encoding a C-STORE-RSP is a few
``struct.pack`` calls.

>>> cmd = Command(CommandField=C_ECHO_RQ, MessageID=1,
...               AffectedSOPClassUID="1.2.840.10008.1.1")
>>> Command.decode(cmd.encode()) == cmd
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields, replace
from typing import Any

from pacslink.dicomnet.errors import DIMSEError

# Command Field values (PS3.7 Table E.1-1 and 9.3)
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_GET_RQ = 0x0010
C_GET_RSP = 0x8010
C_FIND_RQ = 0x0020
C_FIND_RSP = 0x8020
C_MOVE_RQ = 0x0021
C_MOVE_RSP = 0x8021
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF

COMMAND_NAMES = {
    C_STORE_RQ: "C-STORE-RQ", C_STORE_RSP: "C-STORE-RSP", C_GET_RQ: "C-GET-RQ",
    C_GET_RSP: "C-GET-RSP", C_FIND_RQ: "C-FIND-RQ", C_FIND_RSP: "C-FIND-RSP",
    C_MOVE_RQ: "C-MOVE-RQ", C_MOVE_RSP: "C-MOVE-RSP", C_ECHO_RQ: "C-ECHO-RQ",
    C_ECHO_RSP: "C-ECHO-RSP", C_CANCEL_RQ: "C-CANCEL-RQ",
}

#: CommandDataSetType value meaning "no data set follows" (PS3.7 E.1).
NO_DATASET = 0x0101
#: Value we send when a data set follows (any other value means present).
DATASET_PRESENT = 0x0000

PRIORITY_MEDIUM = 0x0000
PRIORITY_HIGH = 0x0001
PRIORITY_LOW = 0x0002

# keyword -> (tag, VR); ordered by tag, which is the encoding order.
_ELEMENTS: dict[str, tuple[int, str]] = {
    "AffectedSOPClassUID": (0x00000002, "UI"),
    "RequestedSOPClassUID": (0x00000003, "UI"),
    "CommandField": (0x00000100, "US"),
    "MessageID": (0x00000110, "US"),
    "MessageIDBeingRespondedTo": (0x00000120, "US"),
    "MoveDestination": (0x00000600, "AE"),
    "Priority": (0x00000700, "US"),
    "CommandDataSetType": (0x00000800, "US"),
    "Status": (0x00000900, "US"),
    "OffendingElement": (0x00000901, "AT"),
    "ErrorComment": (0x00000902, "LO"),
    "ErrorID": (0x00000903, "US"),
    "AffectedSOPInstanceUID": (0x00001000, "UI"),
    "RequestedSOPInstanceUID": (0x00001001, "UI"),
    "NumberOfRemainingSuboperations": (0x00001020, "US"),
    "NumberOfCompletedSuboperations": (0x00001021, "US"),
    "NumberOfFailedSuboperations": (0x00001022, "US"),
    "NumberOfWarningSuboperations": (0x00001023, "US"),
    "MoveOriginatorApplicationEntityTitle": (0x00001030, "AE"),
    "MoveOriginatorMessageID": (0x00001031, "US"),
}
_BY_TAG = {tag: (keyword, vr) for keyword, (tag, vr) in _ELEMENTS.items()}
_ELEMENT_HEADER = struct.Struct("<HHL")
# Per-message hot path (a C-ECHO costs two of these): tags packed once, packers bound once.
_ENCODERS = tuple((keyword, struct.pack("<HH", tag >> 16, tag & 0xFFFF), vr)
                  for keyword, (tag, vr) in _ELEMENTS.items())
_PACK_US = struct.Struct("<H").pack
_PACK_UL = struct.Struct("<L").pack
_GROUP_LENGTH = _ELEMENT_HEADER.pack(0, 0, 4)


@dataclass(frozen=True)
class Command:
    """A DIMSE command set; attribute names are the PS3.7 Annex E keywords.

    Fields left as ``None`` are absent from the encoded command.
    """

    CommandField: int
    MessageID: int | None = None
    MessageIDBeingRespondedTo: int | None = None
    AffectedSOPClassUID: str | None = None
    RequestedSOPClassUID: str | None = None
    AffectedSOPInstanceUID: str | None = None
    RequestedSOPInstanceUID: str | None = None
    MoveDestination: str | None = None
    Priority: int | None = None
    CommandDataSetType: int = NO_DATASET
    Status: int | None = None
    OffendingElement: tuple[int, ...] | None = None
    ErrorComment: str | None = None
    ErrorID: int | None = None
    NumberOfRemainingSuboperations: int | None = None
    NumberOfCompletedSuboperations: int | None = None
    NumberOfFailedSuboperations: int | None = None
    NumberOfWarningSuboperations: int | None = None
    MoveOriginatorApplicationEntityTitle: str | None = None
    MoveOriginatorMessageID: int | None = None

    @property
    def has_dataset(self) -> bool:
        """Whether a data set follows this command (PS3.7 E.1, CommandDataSetType)."""
        return self.CommandDataSetType != NO_DATASET

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.CommandField, f"command 0x{self.CommandField:04X}")

    @property
    def is_response(self) -> bool:
        return bool(self.CommandField & 0x8000)

    def with_(self, **changes: Any) -> Command:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def encode(self) -> bytes:
        """Encode as Implicit VR Little Endian with CommandGroupLength first."""
        parts: list[bytes] = []
        values = self.__dict__
        for keyword, tag, vr in _ENCODERS:
            value = values[keyword]
            if value is None:
                continue
            raw = _PACK_US(value) if vr == "US" else _encode_value(vr, value)
            parts += (tag, _PACK_UL(len(raw)), raw)
        body = b"".join(parts)
        return _GROUP_LENGTH + _PACK_UL(len(body)) + body

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Command:
        """Decode a command set; raises :class:`DIMSEError` on malformed input.

        Elements pacslink does not know are skipped; CommandGroupLength is not trusted.
        """
        view = memoryview(data)
        size = len(view)
        unpack = _ELEMENT_HEADER.unpack_from
        values: dict[str, Any] = {}
        pos = 0
        while pos < size:
            if size - pos < 8:
                raise DIMSEError("command set: truncated element header")
            group, element, length = unpack(view, pos)
            pos += 8
            if group != 0x0000:
                raise DIMSEError(f"command set holds element ({group:04X},{element:04X})")
            if length > size - pos:
                raise DIMSEError(f"command set: element (0000,{element:04X}) overruns the set")
            known = _BY_TAG.get(element)
            if known is not None:
                keyword, vr = known
                if vr == "US" and length == 2:
                    values[keyword] = view[pos] | view[pos + 1] << 8
                else:
                    values[keyword] = _decode_value(vr, bytes(view[pos : pos + length]), element)
            pos += length
        if "CommandField" not in values:
            raise DIMSEError("command set has no CommandField (0000,0100)")
        # what the dataclass __init__ would do, without its frozen per-field setattr:
        # a C-ECHO decodes one of these per message
        command = object.__new__(cls)
        command.__dict__.update(_DEFAULTS, **values)
        return command

    def describe(self) -> str:
        """One log line without patient data."""
        parts = [self.name]
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and f.name not in ("CommandField", "CommandDataSetType"):
                parts.append(f"{f.name}={value:#06x}" if f.name == "Status" else f"{f.name}={value}")
        return " ".join(parts)


#: Every field's default, for :meth:`Command.decode` (``CommandField`` is always decoded).
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Command) if f.name != "CommandField"}


def _encode_value(vr: str, value: Any) -> bytes:
    if vr == "US":
        return struct.pack("<H", value)
    if vr == "UL":
        return struct.pack("<L", value)
    if vr == "AT":
        return b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in value)
    raw = str(value).encode("ascii", errors="replace")
    if len(raw) % 2:
        raw += b"\x00" if vr == "UI" else b" "
    return raw


def _decode_value(vr: str, raw: bytes, element: int) -> Any:
    try:
        if vr == "US":
            (value,) = struct.unpack("<H", raw)
            return value
        if vr == "AT":
            return tuple(
                (g << 16) | e for g, e in struct.iter_unpack("<HH", raw[: len(raw) // 4 * 4])
            )
    except struct.error as exc:
        raise DIMSEError(f"command element (0000,{element:04X}) has length {len(raw)}") from exc
    return raw.rstrip(b"\x00 ").lstrip(b" ").decode("ascii", errors="replace")
