"""Our requestor against our acceptor on loopback: negotiation, fragmentation, limits, release."""

from __future__ import annotations

import asyncio
import logging
import struct

import pytest

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import FileDataset
from pacslink.dicomnet.client import associate, c_echo, c_store
from pacslink.dicomnet.errors import AssociationRejected, ConnectError, NoAcceptedContext
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.server import DicomServer

from tests.dicomnet.conftest import CT, TS, VERIFICATION, MemorySCP, local_ae, open_raw


async def test_echo_and_store_with_fragmentation(memory_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, provider = memory_server
    contexts = build_contexts([(VERIFICATION, TS), (CT, TS)])
    local = local_ae("SCU", max_pdu_length=4096)
    payload = bytes(range(256)) * 400  # 100 KiB -> many PDVs at the peer's 256 KiB? no: ours
    f = tmp_path / "x.bin"
    f.write_bytes(b"HEADER" + payload)
    async with await associate("127.0.0.1", server.port, local, "PACSLINK", contexts) as assoc:
        assert await c_echo(assoc) == 0
        ctx = assoc.context_for(CT)
        assert ctx.transfer_syntax == TS[0]
        # bytes and file sources; force small fragments by pretending the peer wants 1 KiB
        assoc.peer_max_pdu = 1024
        rsp = await c_store(assoc, ctx, CT, "1.2.3.1", payload)
        assert rsp.Status == 0
        rsp = await c_store(assoc, ctx, CT, "1.2.3.2", FileDataset(f, 6, len(payload)))
        assert rsp.Status == 0
    assert provider.received["1.2.3.1"] == payload
    assert provider.received["1.2.3.2"] == payload
    assert max(len(c) for s in provider.sinks for c in s.chunks) <= 1024 - 6


async def test_wrong_called_ae_is_rejected_with_reason_7(memory_server, caplog) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    with caplog.at_level(logging.WARNING, logger="pacslink"), \
            pytest.raises(AssociationRejected) as info:
        await associate("127.0.0.1", server.port, local_ae("SCU"), "NOT-ME",
                        build_contexts([(VERIFICATION, TS)]))
    assert (info.value.rj.result, info.value.rj.source, info.value.rj.reason) == (1, 1, 7)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith("rejected association from SCU@127.0.0.1:"), line
    assert line.endswith(": permanent: called AE title not recognized; it called 'NOT-ME', but "
                         "this AE is 'PACSLINK'; set the called (destination) AE title on the "
                         "caller to PACSLINK"), line


async def test_no_accepted_context(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    with pytest.raises(NoAcceptedContext):
        await associate("127.0.0.1", server.port, local_ae("SCU"), "PACSLINK",
                        build_contexts([("1.2.3.4.5", TS)]))


async def test_connect_refused_is_a_clear_error() -> None:
    server = DicomServer(MemorySCP(local_ae()))
    await server.start("127.0.0.1", 0)
    port = server.port
    await server.close()
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
        await associate("127.0.0.1", port, local_ae("SCU"), "PACSLINK",
                        build_contexts([(VERIFICATION, TS)]))


async def test_max_associations_rejects_transiently() -> None:
    server = DicomServer(MemorySCP(local_ae()), max_associations=1)
    await server.start("127.0.0.1", 0)
    try:
        contexts = build_contexts([(VERIFICATION, TS)])
        first = await associate("127.0.0.1", server.port, local_ae("A"), "PACSLINK", contexts)
        with pytest.raises(AssociationRejected) as info:
            await associate("127.0.0.1", server.port, local_ae("B"), "PACSLINK", contexts)
        assert (info.value.rj.result, info.value.rj.source, info.value.rj.reason) == (2, 3, 2)
        await first.release()
        second = await associate("127.0.0.1", server.port, local_ae("B"), "PACSLINK", contexts)
        assert await c_echo(second) == 0
        await second.release()
    finally:
        await server.close()


async def _expect_abort_and_close(reader: asyncio.StreamReader) -> bytes:
    data = await asyncio.wait_for(reader.read(100), 5)
    rest = await asyncio.wait_for(reader.read(100), 5)
    assert rest == b""  # connection closed
    return data


async def test_oversized_associate_rq_aborted_before_body(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    reader, writer = await open_raw(server.port)
    writer.write(struct.pack(">BxL", 1, 64 * 2**20))  # 64 MiB announced, nothing sent
    await writer.drain()
    data = await _expect_abort_and_close(reader)
    assert data[:1] == b"\x07"  # A-ABORT
    writer.close()


async def test_unknown_pdu_type_and_garbage_close_connection(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    reader, writer = await open_raw(server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await _expect_abort_and_close(reader)
    assert data == b"" or data[:1] == b"\x07"
    writer.close()
    # the server still serves
    async with await associate("127.0.0.1", server.port, local_ae("SCU"), "PACSLINK",
                               build_contexts([(VERIFICATION, TS)])) as assoc:
        assert await c_echo(assoc) == 0


async def test_wrong_fixed_length_release_is_aborted(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    contexts = build_contexts([(VERIFICATION, TS)])
    assoc = await associate("127.0.0.1", server.port, local_ae("SCU"), "PACSLINK", contexts)
    assoc.writer.write(struct.pack(">BxL", 5, 8) + bytes(8))
    data = await _expect_abort_and_close(assoc.reader)
    assert data[:1] == b"\x07"


async def test_idle_connection_closed_by_artim(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server  # acse_timeout=2
    reader, writer = await open_raw(server.port)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await asyncio.wait_for(reader.read(100), 10) in (b"", P.Abort().encode())
    assert loop.time() - start < 6
    writer.close()


async def test_release_collision_is_resolved(memory_server) -> None:  # type: ignore[no-untyped-def]
    """The acceptor also sends A-RELEASE-RQ: both sides end in Sta1 (PS3.8 Table 9-10)."""
    server, _ = memory_server
    contexts = build_contexts([(VERIFICATION, TS)])
    assoc = await associate("127.0.0.1", server.port, local_ae("SCU"), "PACSLINK", contexts)
    # Simulate the collision from our side: we are the requestor in Sta7 and receive RQ.
    assoc.fsm.state = "Sta6"
    await assoc.send_pdu(P.ReleaseRQ().encode(), "Evt11")
    assert assoc.fsm.state == "Sta7"
    assoc.fsm.fire("Evt12")
    assert assoc.fsm.state == "Sta9"
    await assoc.send_pdu(P.ReleaseRP().encode(), "Evt14")
    assert assoc.fsm.state == "Sta11"
    # the real acceptor answered our RQ with RP:
    pdu_type, _ = await assoc.read_pdu(5)
    assert pdu_type == P.A_RELEASE_RP and assoc.fsm.state == "Sta1"
    await assoc.close()
