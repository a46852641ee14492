"""Hypothesis strategies for the fuzz harnesses: valid inputs, and mutations of them.

Purely random bytes rarely get past the first length check, so each harness is also fed
*valid* inputs (every PDU type with every item and sub-item, command sets, P-DATA
streams of whole DIMSE messages, Part 10 data sets in four transfer syntaxes) changed by
a few mutations: bytes flipped, inserted, deleted, lengths overwritten with edge values,
slices duplicated, the input cut short.
"""

from __future__ import annotations

import struct
from functools import cache

from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.sequence import Sequence

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.commands import COMMAND_NAMES, Command
from tests.factory import make_ct, make_dataset_bytes
from tests.fuzz.harnesses import STORE_SOP_INSTANCE_UID, TRANSFER_SYNTAXES

# --- mutations -------------------------------------------------------------------------

_EDGES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFE)


@st.composite
def mutated(draw: st.DrawFn, data: bytes, max_ops: int = 4) -> bytes:
    """``data`` with up to ``max_ops`` mutations."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate", "length",
                                   "duplicate")))
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[at] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del buf[at:at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del buf[at:]
        elif op == "length":
            size, order = draw(st.sampled_from(((2, ">H"), (4, ">L"), (2, "<H"), (4, "<L"))))
            value = draw(st.sampled_from(_EDGES) | st.integers(0, 2**32 - 1)) % (1 << 8 * size)
            buf[at:at + size] = struct.pack(order, value)
        elif op == "duplicate":
            end = draw(st.integers(at, min(len(buf), at + 64)))
            buf[at:at] = buf[at:end]
    return bytes(buf)


# --- PDUs ------------------------------------------------------------------------------

_KNOWN_UIDS = ("1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2",
               "1.2.840.10008.1.2.1", "1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.3.1.1.1")
uids = st.sampled_from(_KNOWN_UIDS) | st.lists(
    st.integers(0, 99999), min_size=2, max_size=12).map(lambda parts: ".".join(map(str, parts)))
ae_titles = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\"),
                    min_size=1, max_size=16)
names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=16)

sub_items = st.one_of(
    st.builds(P.SCPSCURoleSelection, uids, st.booleans(), st.booleans()),
    st.builds(P.AsyncOpsWindow, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(P.SOPClassExtendedNegotiation, uids, st.binary(max_size=32)),
    st.builds(P.SOPClassCommonExtendedNegotiation, uids, uids,
              st.lists(uids, max_size=3).map(tuple)),
    st.builds(P.UserIdentityRQ, st.integers(1, 5), st.booleans(), st.binary(max_size=32),
              st.binary(max_size=32)),
    st.builds(P.UserIdentityAC, st.binary(max_size=32)),
    st.builds(P.RawItem, st.integers(0x5A, 0xFF), st.binary(max_size=32)),
)
user_information = st.builds(P.UserInformation, st.integers(0, 2**32 - 1), uids, names,
                             st.lists(sub_items, max_size=6).map(tuple))
raw_items = st.lists(st.builds(P.RawItem, st.integers(0x60, 0xFF), st.binary(max_size=16)),
                     max_size=2).map(tuple)
application_contexts = st.just(P.APPLICATION_CONTEXT_NAME) | uids
versions = st.just(1) | st.integers(0, 0xFFFF)

associate_rq = st.builds(
    P.AssociateRQ, ae_titles, ae_titles,
    st.lists(st.builds(P.PresentationContextRQ, st.integers(0, 255), uids,
                       st.lists(uids, max_size=4).map(tuple)), max_size=8).map(tuple),
    user_information, application_contexts, versions, raw_items)
associate_ac = st.builds(
    P.AssociateAC, ae_titles, ae_titles,
    st.lists(st.builds(P.PresentationContextAC, st.integers(0, 255), st.integers(0, 4), uids),
             max_size=8).map(tuple),
    user_information, application_contexts, versions, raw_items)
pdvs = st.builds(P.PDV, st.integers(0, 255), st.booleans(), st.booleans(), st.binary(max_size=64))
any_pdu = st.one_of(
    associate_rq, associate_ac,
    st.builds(P.AssociateRJ, st.integers(0, 3), st.integers(0, 4), st.integers(0, 8)),
    st.builds(P.PDataTF, st.lists(pdvs, min_size=1, max_size=4).map(tuple)),
    st.just(P.ReleaseRQ()), st.just(P.ReleaseRP()),
    st.builds(P.Abort, st.integers(0, 2), st.integers(0, 6)),
)


def harness_input(encoded: bytes) -> bytes:
    """A whole PDU as the ``pdu`` harness takes it: type byte, then the body."""
    return encoded[:1] + encoded[6:]


# --- DIMSE -----------------------------------------------------------------------------

texts = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
shorts = st.integers(0, 0xFFFF)
commands = st.builds(
    Command, st.sampled_from(sorted(COMMAND_NAMES)) | shorts,
    MessageID=st.none() | shorts, MessageIDBeingRespondedTo=st.none() | shorts,
    AffectedSOPClassUID=st.none() | uids, AffectedSOPInstanceUID=st.none() | uids,
    MoveDestination=st.none() | ae_titles, Priority=st.none() | st.integers(0, 2),
    CommandDataSetType=st.sampled_from((0x0101, 0x0000, 0x0001)),
    Status=st.none() | shorts, ErrorComment=st.none() | texts,
    OffendingElement=st.none() | st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=3).map(tuple),
    NumberOfRemainingSuboperations=st.none() | shorts,
    NumberOfCompletedSuboperations=st.none() | shorts,
    MoveOriginatorApplicationEntityTitle=st.none() | ae_titles,
    MoveOriginatorMessageID=st.none() | shorts,
)


@st.composite
def fragments(draw: st.DrawFn, data: bytes, context_id: int, is_command: bool) -> list[P.PDV]:
    """``data`` cut into PDVs of random sizes, the last one flagged last."""
    out: list[P.PDV] = []
    pos = 0
    while True:
        size = draw(st.integers(0 if not data else 1, max(len(data) - pos, 1)))
        chunk = data[pos:pos + size]
        pos += size
        last = pos >= len(data)
        out.append(P.PDV(context_id, is_command, last, chunk))
        if last:
            return out


@st.composite
def message_streams(draw: st.DrawFn) -> bytes:
    """P-DATA-TF PDUs carrying a few DIMSE messages (and maybe a release request)."""
    stream = bytearray()
    for _ in range(draw(st.integers(1, 3))):
        command = draw(commands)
        context_id = draw(st.sampled_from((1, 3, 5)))
        pieces = draw(fragments(command.encode(), context_id, True))
        if command.has_dataset:
            pieces += draw(fragments(draw(st.binary(max_size=256)), context_id, False))
        while pieces:
            take = draw(st.integers(1, len(pieces)))
            stream += P.PDataTF(tuple(pieces[:take])).encode()
            pieces = pieces[take:]
    if draw(st.booleans()):
        stream += draw(st.sampled_from((P.ReleaseRQ().encode(), P.Abort().encode(),
                                        P.ReleaseRP().encode())))
    return bytes(stream)


# --- data sets for the store -----------------------------------------------------------


@cache
def store_seeds() -> tuple[bytes, ...]:
    """Valid C-STORE data sets (harness input: syntax byte, chunk byte, data set)."""
    plain = make_ct(rows=4, columns=4, sop_instance_uid=STORE_SOP_INSTANCE_UID,
                    study_instance_uid="1.2.826.0.1.3680043.8.498.1",
                    series_instance_uid="1.2.826.0.1.3680043.8.498.2")
    nested = make_ct(rows=2, columns=2, sop_instance_uid=STORE_SOP_INSTANCE_UID)
    item = Dataset()
    item.ReferencedSOPClassUID = nested.SOPClassUID
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    nested.ReferencedImageSequence = Sequence([item, item])
    nested.ReferencedImageSequence.is_undefined_length = True
    bare = make_ct(sop_instance_uid=STORE_SOP_INSTANCE_UID, pixel_data=False)
    seeds = []
    for index, syntax in enumerate(TRANSFER_SYNTAXES):
        for ds in (plain, nested, bare):
            seeds.append(bytes([index, 7]) + make_dataset_bytes(ds, syntax))
    return tuple(seeds)


@st.composite
def store_inputs(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(store_seeds()))
    head = bytes([seed[0], draw(st.integers(0, 255))])
    return head + draw(mutated(seed[2:], max_ops=3))


__all__ = ["any_pdu", "associate_rq", "commands", "harness_input", "message_streams",
           "mutated", "store_inputs", "store_seeds"]
