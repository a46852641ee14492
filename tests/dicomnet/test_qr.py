"""C-FIND, C-MOVE, C-GET and C-CANCEL on the engine, both roles, and against pynetdicom."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from io import BytesIO

import pytest
from pydicom import Dataset, dcmread
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pacslink.dicomnet import commands as C
from pacslink.dicomnet import pdu as P
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AcceptedContext, Association, Message
from pacslink.dicomnet.client import associate
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.qr import QRResponse, c_find, c_get, c_move
from pacslink.dicomnet.server import DicomServer, ServiceProvider
from pacslink.dicomnet.suboperations import SubOperations
from tests.dicomnet.conftest import CT, TS, local_ae
from tests.factory import make_ct, make_dataset_bytes
from tests.peers import require_module

FIND = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
GET = "1.2.840.10008.5.1.4.1.2.2.3"
IMPLICIT = TS[0]


def encode(ds: Dataset) -> bytes:
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, True
    write_dataset(buf, ds)
    return buf.getvalue()


def decode(data: bytes) -> Dataset:
    return dcmread(BytesIO(data), force=True)


class QRProvider(ServiceProvider):
    """Answers FIND with N matches (optionally slowly), MOVE with counters, GET with stores."""

    supported = {FIND: TS, MOVE: TS, GET: TS, CT: TS}
    scp_role_for = {CT}

    def __init__(self, matches: int = 3, delay: float = 0.0) -> None:
        super().__init__(local_ae("QRSCP", network_timeout=5))
        self.matches = matches
        self.delay = delay
        self.instances = [make_ct(rows=4, columns=4) for _ in range(3)]
        self.cancelled = False

    async def on_c_find(self, assoc: Association, message: Message,
                        cancelled: asyncio.Event) -> AsyncIterator[QRResponse]:
        query = decode(message.dataset or b"")
        for i in range(self.matches):
            if self.delay:
                await asyncio.sleep(self.delay)
            if cancelled.is_set():
                self.cancelled = True
                return
            ds = Dataset()
            ds.QueryRetrieveLevel = query.QueryRetrieveLevel
            ds.PatientID = query.PatientID
            ds.StudyInstanceUID = f"1.2.3.{i + 1}"
            yield QRResponse(S.PENDING, encode(ds))

    async def on_c_move(self, assoc: Association, message: Message,
                        cancelled: asyncio.Event) -> AsyncIterator[QRResponse]:
        if message.command.MoveDestination != "KNOWN":
            yield QRResponse(S.MOVE_DESTINATION_UNKNOWN, error_comment="unknown destination")
            return
        for done in range(1, 4):
            yield QRResponse(S.PENDING, remaining=3 - done, completed=done, failed=0, warning=0)
        yield QRResponse(S.SUCCESS, completed=3, failed=0, warning=0)

    async def on_c_get(self, assoc: Association, message: Message, cancelled: asyncio.Event,
                       sub: SubOperations) -> AsyncIterator[QRResponse]:
        completed = failed = 0
        for n, ds in enumerate(self.instances):
            (ctx,) = sub.contexts_for(CT)
            rsp = await sub.store(ctx, ds.SOPInstanceUID, make_dataset_bytes(ds, ctx.transfer_syntax))
            completed += rsp.Status == 0
            failed += rsp.Status != 0
            yield QRResponse(S.PENDING, remaining=len(self.instances) - n - 1,
                             completed=completed, failed=failed, warning=0)
        yield QRResponse(S.SUCCESS if not failed else 0xB000, completed=completed,
                         failed=failed, warning=0)


@pytest.fixture
async def qr_server() -> AsyncIterator[tuple[DicomServer, QRProvider]]:
    provider = QRProvider()
    server = DicomServer(provider)
    await server.start("127.0.0.1", 0)
    try:
        yield server, provider
    finally:
        await server.close()


def study_query(patient_id: str = "VET001") -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = ""
    return encode(ds)


async def test_find_streams_pending_then_success(qr_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = qr_server
    contexts = build_contexts([(FIND, [IMPLICIT])])
    async with await associate("127.0.0.1", server.port, local_ae("SCU"), "QRSCP", contexts) as a:
        responses = [r async for r in c_find(a, a.context_for(FIND), study_query())]
    assert [r.status for r in responses] == [S.PENDING] * 3 + [S.SUCCESS]
    assert [decode(r.identifier).StudyInstanceUID for r in responses[:3]] == ["1.2.3.1", "1.2.3.2", "1.2.3.3"]
    assert responses[-1].identifier is None


async def test_cancel_stops_a_find(qr_server) -> None:  # type: ignore[no-untyped-def]
    server, provider = qr_server
    provider.matches, provider.delay = 1000, 0.01
    contexts = build_contexts([(FIND, [IMPLICIT])])
    async with await associate("127.0.0.1", server.port, local_ae("SCU"), "QRSCP", contexts) as a:
        op = c_find(a, a.context_for(FIND), study_query())
        seen = 0
        async for r in op:
            seen += r.pending
            if seen == 5:
                await op.cancel()
        assert op.final is not None and op.final.status == S.CANCEL
        assert seen < 20
        # the association is still usable afterwards
        provider.matches, provider.delay = 2, 0
        again = [r.status async for r in c_find(a, a.context_for(FIND), study_query())]
        assert again == [S.PENDING, S.PENDING, S.SUCCESS]
    assert provider.cancelled


async def test_move_counters_and_unknown_destination(qr_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = qr_server
    contexts = build_contexts([(MOVE, [IMPLICIT])])
    async with await associate("127.0.0.1", server.port, local_ae("SCU"), "QRSCP", contexts) as a:
        ctx = a.context_for(MOVE)
        responses = [r async for r in c_move(a, ctx, "KNOWN", study_query())]
        assert [(r.status, r.remaining, r.completed) for r in responses] == [
            (S.PENDING, 2, 1), (S.PENDING, 1, 2), (S.PENDING, 0, 3), (S.SUCCESS, None, 3)]
        (unknown,) = [r async for r in c_move(a, ctx, "NOBODY", study_query())]
        assert unknown.status == S.MOVE_DESTINATION_UNKNOWN
        assert unknown.error_comment == "unknown destination"


async def test_get_receives_stores_on_the_same_association(qr_server) -> None:  # type: ignore[no-untyped-def]
    server, provider = qr_server
    contexts = build_contexts([(GET, [IMPLICIT]), (CT, [IMPLICIT])])
    received: dict[str, bytes] = {}

    async def on_store(message: Message) -> int:
        received[message.command.AffectedSOPInstanceUID or ""] = message.dataset or b""
        return 0

    async with await associate("127.0.0.1", server.port, local_ae("SCU"), "QRSCP", contexts,
                               roles=[P.SCPSCURoleSelection(CT, True, True)]) as a:
        assert a.context_for(CT).scp_role
        responses = [r async for r in c_get(a, a.context_for(GET), study_query(), on_store=on_store)]
    assert responses[-1].status == S.SUCCESS and responses[-1].completed == 3
    assert received == {ds.SOPInstanceUID: make_dataset_bytes(ds, IMPLICIT) for ds in provider.instances}


async def test_get_without_scp_role_is_refused_by_role_negotiation(qr_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = qr_server
    contexts = build_contexts([(GET, [IMPLICIT]), (FIND, [IMPLICIT])])
    async with await associate("127.0.0.1", server.port, local_ae("SCU"), "QRSCP", contexts,
                               roles=[P.SCPSCURoleSelection(FIND, True, True)]) as a:
        # FIND is not in the provider's scp_role_for: the acceptor refuses our SCP role
        assert not a.context_for(FIND).scp_role


def test_command_sets_are_byte_exact() -> None:
    find = C.Command(CommandField=C.C_FIND_RQ, MessageID=5, AffectedSOPClassUID=FIND,
                     Priority=0, CommandDataSetType=0)
    move = C.Command(CommandField=C.C_MOVE_RQ, MessageID=6, AffectedSOPClassUID=MOVE,
                     Priority=0, MoveDestination="PACSLINK", CommandDataSetType=0)
    get_rsp = C.Command(CommandField=C.C_GET_RSP, MessageIDBeingRespondedTo=7,
                        AffectedSOPClassUID=GET, Status=0xFF00,
                        NumberOfRemainingSuboperations=2, NumberOfCompletedSuboperations=1,
                        NumberOfFailedSuboperations=0, NumberOfWarningSuboperations=0)
    cancel = C.Command(CommandField=C.C_CANCEL_RQ, MessageIDBeingRespondedTo=5)
    assert cancel.encode() == bytes.fromhex(
        "00000000 04000000 1e000000"
        "00000001 02000000 ff0f"
        "00002001 02000000 0500"
        "00000008 02000000 0101")
    from tests.dicomnet.test_commands import pydicom_encode

    assert find.encode() == pydicom_encode(AffectedSOPClassUID=FIND, CommandField=0x20,
                                           MessageID=5, Priority=0, CommandDataSetType=0)
    assert move.encode() == pydicom_encode(AffectedSOPClassUID=MOVE, CommandField=0x21,
                                           MessageID=6, MoveDestination="PACSLINK", Priority=0,
                                           CommandDataSetType=0)
    assert get_rsp.encode() == pydicom_encode(
        AffectedSOPClassUID=GET, CommandField=0x8010, MessageIDBeingRespondedTo=7,
        CommandDataSetType=0x0101, Status=0xFF00, NumberOfRemainingSuboperations=2,
        NumberOfCompletedSuboperations=1, NumberOfFailedSuboperations=0,
        NumberOfWarningSuboperations=0)
    for cmd in (find, move, get_rsp, cancel):
        assert C.Command.decode(cmd.encode()) == cmd


# --- pynetdicom as the other side -------------------------------------------------------

pynetdicom = require_module("pynetdicom")  # skips outside CI, fails in CI


async def test_pynetdicom_scu_find_and_get_against_our_scp(qr_server) -> None:  # type: ignore[no-untyped-def]
    server, provider = qr_server
    query = Dataset()
    query.QueryRetrieveLevel, query.PatientID, query.StudyInstanceUID = "STUDY", "VET001", ""

    def run() -> tuple[list[int], list[int], int]:
        ae = pynetdicom.AE(ae_title="PYSCU")
        ae.add_requested_context(FIND)
        ae.add_requested_context(GET)
        ae.add_requested_context(CT)
        role = pynetdicom.build_role(CT, scp_role=True)
        stored: list[str] = []

        def handle_store(event):  # type: ignore[no-untyped-def]
            stored.append(event.request.AffectedSOPInstanceUID)
            return 0

        assoc = ae.associate("127.0.0.1", server.port, ae_title="QRSCP", ext_neg=[role],
                             evt_handlers=[(pynetdicom.evt.EVT_C_STORE, handle_store)])
        assert assoc.is_established
        find = [s.Status for s, _ in assoc.send_c_find(query, FIND)]
        get = [s.Status for s, _ in assoc.send_c_get(query, GET)]
        assoc.release()
        return find, get, len(stored)

    find, get, stored = await asyncio.to_thread(run)
    assert find == [0xFF00] * 3 + [0]
    assert get[-1] == 0 and stored == 3


async def test_our_scu_find_move_get_against_pynetdicom_scp() -> None:
    matches = []
    for i in range(2):
        ds = Dataset()
        ds.QueryRetrieveLevel, ds.PatientID, ds.StudyInstanceUID = "STUDY", "VET001", f"1.2.9.{i}"
        matches.append(ds)
    instance = make_ct(rows=4, columns=4)
    from pydicom.dataset import FileMetaDataset

    instance.file_meta = FileMetaDataset()
    instance.file_meta.TransferSyntaxUID = IMPLICIT

    def handle_find(event):  # type: ignore[no-untyped-def]
        for ds in matches:
            yield 0xFF00, ds

    def handle_move(event):  # type: ignore[no-untyped-def]
        yield ("127.0.0.1", 9)  # never contacted: 0 sub-operations
        yield 0

    def handle_get(event):  # type: ignore[no-untyped-def]
        yield 1
        yield 0xFF00, instance

    ae = pynetdicom.AE(ae_title="PYQR")
    for uid in (FIND, MOVE, GET):
        ae.add_supported_context(uid, TS)
    ae.add_supported_context(CT, TS, scp_role=True, scu_role=True)
    scp = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[
        (pynetdicom.evt.EVT_C_FIND, handle_find), (pynetdicom.evt.EVT_C_MOVE, handle_move),
        (pynetdicom.evt.EVT_C_GET, handle_get)])
    port = scp.server_address[1]
    received: list[bytes] = []

    async def on_store(message: Message) -> int:
        received.append(message.dataset or b"")
        return 0

    try:
        contexts = build_contexts([(FIND, [IMPLICIT]), (MOVE, [IMPLICIT]), (GET, [IMPLICIT]),
                                   (CT, [IMPLICIT])])
        async with await associate("127.0.0.1", port, local_ae("PACSLINK"), "PYQR", contexts,
                                   roles=[P.SCPSCURoleSelection(CT, True, True)]) as a:
            found = [r async for r in c_find(a, a.context_for(FIND), study_query())]
            moved = [r async for r in c_move(a, a.context_for(MOVE), "ELSEWHERE", study_query())]
            got = [r async for r in c_get(a, a.context_for(GET), study_query(), on_store=on_store)]
    finally:
        scp.shutdown()
    assert [r.status for r in found] == [S.PENDING, S.PENDING, S.SUCCESS]
    assert {decode(r.identifier).StudyInstanceUID for r in found[:2]} == {"1.2.9.0", "1.2.9.1"}
    assert moved[-1].status == S.SUCCESS
    assert got[-1].status == S.SUCCESS and got[-1].completed == 1
    assert decode(received[0]).SOPInstanceUID == instance.SOPInstanceUID
