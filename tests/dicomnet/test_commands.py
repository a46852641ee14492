"""Byte-exact DIMSE command sets (PS3.7 Annex E) for C-ECHO and C-STORE."""

from __future__ import annotations

import struct

import pytest
from pydicom import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pacslink.dicomnet import commands as C
from pacslink.dicomnet.errors import DIMSEError

CT = "1.2.840.10008.5.1.4.1.1.2"


def pydicom_encode(**elements: object) -> bytes:
    """The same command set written by pydicom's general writer (Implicit VR LE)."""
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, True
    write_dataset(body, ds)
    raw = body.getvalue()
    return struct.pack("<HHLL", 0, 0, 4, len(raw)) + raw


def test_c_echo_rq_matches_pydicom() -> None:
    cmd = C.Command(CommandField=C.C_ECHO_RQ, MessageID=7, AffectedSOPClassUID="1.2.840.10008.1.1")
    assert cmd.encode() == pydicom_encode(
        AffectedSOPClassUID="1.2.840.10008.1.1", CommandField=0x30, MessageID=7,
        CommandDataSetType=0x0101)


def test_c_store_rq_and_rsp_match_pydicom() -> None:
    rq = C.Command(
        CommandField=C.C_STORE_RQ, MessageID=3, AffectedSOPClassUID=CT,
        AffectedSOPInstanceUID="1.2.3.4", Priority=0, CommandDataSetType=C.DATASET_PRESENT,
        MoveOriginatorApplicationEntityTitle="MOVER", MoveOriginatorMessageID=9,
    )
    assert rq.encode() == pydicom_encode(
        AffectedSOPClassUID=CT, CommandField=1, MessageID=3, Priority=0, CommandDataSetType=0,
        AffectedSOPInstanceUID="1.2.3.4", MoveOriginatorApplicationEntityTitle="MOVER",
        MoveOriginatorMessageID=9)
    rsp = C.Command(
        CommandField=C.C_STORE_RSP, MessageIDBeingRespondedTo=3, AffectedSOPClassUID=CT,
        AffectedSOPInstanceUID="1.2.3.4", Status=0xA700, ErrorComment="disk full",
    )
    assert rsp.encode() == pydicom_encode(
        AffectedSOPClassUID=CT, CommandField=0x8001, MessageIDBeingRespondedTo=3,
        CommandDataSetType=0x0101, Status=0xA700, ErrorComment="disk full",
        AffectedSOPInstanceUID="1.2.3.4")
    assert C.Command.decode(rsp.encode()) == rsp


def test_exact_bytes_of_echo_rsp() -> None:
    rsp = C.Command(CommandField=C.C_ECHO_RSP, MessageIDBeingRespondedTo=1,
                    AffectedSOPClassUID="1.2.840.10008.1.1", Status=0)
    expected = bytes.fromhex(
        "00000000 04000000 42000000"          # group length = 66
        "00000200 12000000") + b"1.2.840.10008.1.1\x00" + bytes.fromhex(
        "00000001 02000000 3080"              # CommandField 0x8030
        "00002001 02000000 0100"              # MessageIDBeingRespondedTo 1
        "00000008 02000000 0101"              # no data set
        "00000009 02000000 0000")             # Status success
    assert rsp.encode() == expected


def test_decode_tolerates_unknown_elements_and_trailing_padding() -> None:
    raw = C.Command(CommandField=C.C_ECHO_RQ, MessageID=1).encode()
    raw += struct.pack("<HHL", 0, 0x5010, 2) + b"xx"  # retired element we do not know
    assert C.Command.decode(raw).MessageID == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00\x00\x00\x04\x00",                       # truncated header
        struct.pack("<HHL", 8, 0x18, 2) + b"ab",            # group 0008 in a command set
        struct.pack("<HHL", 0, 0x100, 200) + b"ab",         # length overrun
        struct.pack("<HHL", 0, 0x110, 2) + b"\x01\x00",     # no CommandField
        struct.pack("<HHL", 0, 0x100, 3) + b"abc",          # US with 3 bytes
    ],
)
def test_malformed_command_sets(raw: bytes) -> None:
    with pytest.raises(DIMSEError):
        C.Command.decode(raw)
