"""Byte-exact encode/decode tests for every PDU and item type (PS3.8 9.3, PS3.7 D.3.3)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.errors import PDUError

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def item(item_type: int, value: bytes) -> bytes:
    return bytes([item_type, 0]) + struct.pack(">H", len(value)) + value


def ae(title: str) -> bytes:
    return title.encode().ljust(16, b" ")


def test_associate_rq_bytes() -> None:
    rq = P.AssociateRQ(
        called_ae_title="ANY-SCP",
        calling_ae_title="PACSLINK",
        presentation_contexts=(P.PresentationContextRQ(1, VERIFICATION, (IMPLICIT, EXPLICIT)),),
        user_information=P.UserInformation(16384, "1.2.3", "PL_1"),
    )
    body = (
        b"\x00\x01\x00\x00" + ae("ANY-SCP") + ae("PACSLINK") + bytes(32)
        + item(0x10, b"1.2.840.10008.3.1.1.1")
        + item(0x20, b"\x01\x00\x00\x00" + item(0x30, VERIFICATION.encode())
               + item(0x40, IMPLICIT.encode()) + item(0x40, EXPLICIT.encode()))
        + item(0x50, item(0x51, struct.pack(">L", 16384)) + item(0x52, b"1.2.3") + item(0x55, b"PL_1"))
    )
    expected = b"\x01\x00" + struct.pack(">L", len(body)) + body
    assert rq.encode() == expected
    assert P.AssociateRQ.decode(expected[6:]) == rq


def test_associate_ac_bytes() -> None:
    ac = P.AssociateAC(
        called_ae_title="PACSLINK",
        calling_ae_title="SCU",
        presentation_contexts=(
            P.PresentationContextAC(1, P.ACCEPTANCE, IMPLICIT),
            P.PresentationContextAC(3, P.ABSTRACT_SYNTAX_NOT_SUPPORTED, IMPLICIT),
        ),
        user_information=P.UserInformation(0, "1.2.3"),
    )
    body = (
        b"\x00\x01\x00\x00" + ae("PACSLINK") + ae("SCU") + bytes(32)
        + item(0x10, b"1.2.840.10008.3.1.1.1")
        + item(0x21, b"\x01\x00\x00\x00" + item(0x40, IMPLICIT.encode()))
        + item(0x21, b"\x03\x00\x03\x00" + item(0x40, IMPLICIT.encode()))
        + item(0x50, item(0x51, bytes(4)) + item(0x52, b"1.2.3"))
    )
    assert ac.encode() == b"\x02\x00" + struct.pack(">L", len(body)) + body
    assert P.AssociateAC.decode(body) == ac


def test_associate_rj_release_abort_bytes() -> None:
    rj = P.AssociateRJ(P.RJ_PERMANENT, P.RJ_SOURCE_USER, 7)
    assert rj.encode() == bytes.fromhex("03 00 00000004 00 01 01 07")
    assert P.AssociateRJ.decode(rj.encode()[6:]) == rj
    assert rj.describe() == "permanent: called AE title not recognized"
    assert P.ReleaseRQ().encode() == bytes.fromhex("05 00 00000004 00000000")
    assert P.ReleaseRP().encode() == bytes.fromhex("06 00 00000004 00000000")
    abort = P.Abort(P.ABORT_SOURCE_PROVIDER, P.ABORT_REASON_UNEXPECTED_PDU)
    assert abort.encode() == bytes.fromhex("07 00 00000004 00 00 02 02")
    assert P.Abort.decode(abort.encode()[6:]) == abort


def test_p_data_tf_bytes() -> None:
    pdu = P.PDataTF((P.PDV(1, True, True, b"\x01\x02"), P.PDV(3, False, False, b"abcd")))
    expected = bytes.fromhex("04 00 00000012" "00000004 01 03 0102" "00000006 03 00 61626364")
    assert pdu.encode() == expected
    decoded = P.PDataTF.decode(expected[6:])
    assert [(p.context_id, p.is_command, p.is_last, bytes(p.data)) for p in decoded.pdvs] == [
        (1, True, True, b"\x01\x02"), (3, False, False, b"abcd")]


def test_user_information_sub_items_bytes() -> None:
    role = P.SCPSCURoleSelection(CT, False, True)
    assert role.encode() == item(0x54, struct.pack(">H", len(CT)) + CT.encode() + b"\x00\x01")
    window = P.AsyncOpsWindow(5, 1)
    assert window.encode() == item(0x53, b"\x00\x05\x00\x01")
    ext = P.SOPClassExtendedNegotiation(CT, b"\x01\x00\x01")
    assert ext.encode() == item(0x56, struct.pack(">H", len(CT)) + CT.encode() + b"\x01\x00\x01")
    common = P.SOPClassCommonExtendedNegotiation(CT, "1.2.840.10008.4.2", ("1.2.3",))
    related = struct.pack(">H", 5) + b"1.2.3"
    assert common.encode() == item(
        0x57, struct.pack(">H", len(CT)) + CT.encode() + struct.pack(">H", 17)
        + b"1.2.840.10008.4.2" + struct.pack(">H", len(related)) + related)
    ident = P.UserIdentityRQ(2, True, b"user", b"pass")
    assert ident.encode() == item(0x58, b"\x02\x01\x00\x04user\x00\x04pass")
    ident_ac = P.UserIdentityAC(b"ok")
    assert ident_ac.encode() == item(0x59, b"\x00\x02ok")
    ui = P.UserInformation(1000, "1.2", "V", (role, window, ext, common, ident, ident_ac,
                                             P.RawItem(0x5F, b"xy")))
    decoded = P.UserInformation.decode(ui.encode()[4:])
    assert decoded.max_length == 1000
    assert set(decoded.sub_items) == set(ui.sub_items)
    # Implementation Version Name (0x55) comes after role selection (0x54), PS3.7 D.3.3
    order = [v[0] for v in P.iter_items(ui.encode()[4:], "ui")]
    assert order == sorted(order)


def test_matches_pynetdicom_encoding() -> None:
    """An independent encoder (pynetdicom) produces the same bytes for the same RQ."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
        SCP_SCU_RoleSelectionNegotiation,
    )
    from pynetdicom.presentation import build_context

    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "PACSLINK"
    primitive.called_ae_title = "ORTHANC"
    ctx = build_context(CT, [IMPLICIT, EXPLICIT])
    ctx.context_id = 1
    primitive.presentation_context_definition_list = [ctx]
    ml = MaximumLengthNotification()
    ml.maximum_length_received = 262144
    ic = ImplementationClassUIDNotification()
    ic.implementation_class_uid = "1.2.3.4"
    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = CT
    role.scu_role = False
    role.scp_role = True
    iv = ImplementationVersionNameNotification()
    iv.implementation_version_name = "PACSLINK_0.1.0"
    primitive.user_information = [ml, ic, role, iv]
    theirs = A_ASSOCIATE_RQ()
    theirs.from_primitive(primitive)
    ours = P.AssociateRQ(
        "ORTHANC", "PACSLINK", (P.PresentationContextRQ(1, CT, (IMPLICIT, EXPLICIT)),),
        P.UserInformation(262144, "1.2.3.4", "PACSLINK_0.1.0",
                          (P.SCPSCURoleSelection(CT, False, True),)),
    )
    assert ours.encode() == theirs.encode()


@pytest.mark.parametrize(
    ("pdu_type", "body", "message"),
    [
        (0x09, b"", "unrecognized PDU type"),
        (0x05, b"\x00\x00\x00", "must have length 4"),
        (0x07, b"\x00" * 5, "must have length 4"),
        (0x01, b"\x00" * 10, "at least 68"),
        (0x04, b"\x00\x00\x00\x09\x01\x03ab", "does not fit"),
        (0x04, b"", "no presentation data value"),
        (0x04, b"\x00\x00\x00\x03\x01\x07a", "reserved bits"),
    ],
)
def test_malformed_pdus_raise(pdu_type: int, body: bytes, message: str) -> None:
    with pytest.raises(PDUError, match=message):
        P.decode_pdu(pdu_type, body)


def test_item_length_overrun_raises() -> None:
    rq = P.AssociateRQ("A", "B", (P.PresentationContextRQ(1, VERIFICATION, (IMPLICIT,)),)).encode()
    broken = bytearray(rq[6:])
    broken[68 + 2 : 68 + 4] = b"\xff\xff"  # application context item claims 65535 bytes
    with pytest.raises(PDUError, match="claims 65535 bytes"):
        P.decode_pdu(0x01, bytes(broken))


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=7))
def test_decoders_never_raise_anything_but_pduerror(body: bytes, pdu_type: int) -> None:
    try:
        P.decode_pdu(pdu_type, body)
    except PDUError:
        pass
