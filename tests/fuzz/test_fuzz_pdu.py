"""Fuzzing PDU decoding (PS3.8 9.3): every PDU type, its items and sub-items.

Contract: :func:`~pacslink.dicomnet.pdu.decode_pdu` returns a PDU or raises
:class:`~pacslink.dicomnet.errors.PDUError` (which the association answers with A-ABORT),
never anything else; a decoded A-ASSOCIATE-RQ can be checked, negotiated and answered.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pacslink.dicomnet import pdu as P
from tests.fuzz.record import fuzz, run
from tests.fuzz.strategies import any_pdu, harness_input, mutated


@fuzz("pdu")
@given(st.integers(0, 255), st.binary(max_size=512))
def test_arbitrary_bytes(pdu_type: int, body: bytes) -> None:
    run("pdu", bytes([pdu_type]) + body)


@fuzz("pdu")
@given(st.data())
def test_mutated_valid_pdus(data: st.DataObject) -> None:
    encoded = data.draw(any_pdu).encode()
    run("pdu", data.draw(mutated(harness_input(encoded))))


@fuzz("pdu")
@given(any_pdu)
def test_valid_pdus_decode_to_what_encodes_the_same(pdu: P.PDU) -> None:
    encoded = pdu.encode()
    decoded = P.decode_pdu(encoded[0], encoded[6:])
    assert decoded.encode() == encoded
    run("pdu", harness_input(encoded))
