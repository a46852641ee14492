"""Protocol limits before allocation, and PDUs out of state order (PS3.8 9.2, 9.3).

A peer that announces or actually sends 64 MiB gets an A-ABORT and a closed connection,
and the acceptor's memory grows by far less than what was offered. PDUs that the state
table does not allow in the current state, unknown PDU types carrying a body and wrong
fixed lengths end the connection at once (PS3.8 Table 9-10, action AA-1/AA-8).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import tracemalloc
from collections.abc import Iterator

import pytest

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.client import associate, c_echo
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.server import DicomServer
from tests.dicomnet.conftest import CT, TS, VERIFICATION, MemorySCP, local_ae, open_raw

MIB = 2**20
#: Memory the acceptor may use while a peer pushes 64 MiB at it.
BOUND = 20 * MIB


@contextlib.contextmanager
def traced_growth() -> Iterator[list[int]]:
    """Yield a list that receives the peak traced allocation (bytes) above the start."""
    result: list[int] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield result
        result.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


async def _push(writer: asyncio.StreamWriter, header: bytes, total: int) -> int:
    """Write ``header`` then zeros up to ``total`` bytes; return how many were accepted."""
    sent = 0
    chunk = bytes(MIB)
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(header)
        while sent < total:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    return sent


async def _read_until_closed(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await asyncio.wait_for(reader.read(65536), timeout):
            data += chunk
    return data


async def _serves(port: int) -> None:
    contexts = build_contexts([(VERIFICATION, TS)])
    async with await associate("127.0.0.1", port, local_ae("NEXT"), "PACSLINK",
                               contexts) as assoc:
        assert await c_echo(assoc) == 0


async def test_64_mib_associate_rq_is_aborted_and_never_buffered(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    with traced_growth() as growth:
        reader, writer = await open_raw(server.port)
        pusher = asyncio.create_task(_push(writer, struct.pack(">BxL", 1, 64 * MIB), 64 * MIB))
        data = await _read_until_closed(reader)
        sent = await asyncio.wait_for(pusher, 10)
        writer.close()
    assert data[:1] == b"\x07" or data == b""  # A-ABORT (if it arrived before the reset)
    assert sent < 64 * MIB  # the acceptor closed the connection instead of reading it all
    assert growth[0] < BOUND
    await _serves(server.port)


async def test_p_data_beyond_our_maximum_is_aborted_and_never_buffered(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, provider = memory_server
    contexts = build_contexts([(VERIFICATION, TS), (CT, TS)])
    assoc = await associate("127.0.0.1", server.port, local_ae("BIG"), "PACSLINK", contexts)
    with traced_growth() as growth:
        header = struct.pack(">BxL", 4, 64 * MIB)  # far above the 256 KiB we announced
        pusher = asyncio.create_task(_push(assoc.writer, header, 64 * MIB))
        data = await _read_until_closed(assoc.reader)
        sent = await asyncio.wait_for(pusher, 10)
    assoc.writer.close()
    assert data[:1] == b"\x07" or data == b""
    assert sent < 64 * MIB
    assert growth[0] < BOUND
    assert provider.received == {}
    await _serves(server.port)


@pytest.mark.parametrize(
    "first_pdu",
    [
        pytest.param(struct.pack(">BxL", 4, 6) + struct.pack(">LBB", 2, 1, 3), id="P-DATA"),
        pytest.param(struct.pack(">BxL", 5, 4) + bytes(4), id="A-RELEASE-RQ"),
        pytest.param(struct.pack(">BxL", 6, 4) + bytes(4), id="A-RELEASE-RP"),
        pytest.param(struct.pack(">BxL", 2, 68) + bytes(68), id="A-ASSOCIATE-AC"),
    ],
)
async def test_pdu_out_of_state_order_before_association_is_aborted(  # type: ignore[no-untyped-def]
    memory_server, first_pdu: bytes
) -> None:
    """In Sta2 only A-ASSOCIATE-RQ is valid; anything else is AA-1 (PS3.8 Table 9-10)."""
    server, _ = memory_server
    reader, writer = await open_raw(server.port)
    writer.write(first_pdu)
    await writer.drain()
    data = await _read_until_closed(reader, timeout=5)
    writer.close()
    assert data == b"" or (data[:1] == b"\x07" and len(data) == 10)
    await _serves(server.port)


async def test_second_associate_rq_on_an_association_is_aborted(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = memory_server
    contexts = build_contexts([(VERIFICATION, TS)])
    assoc = await associate("127.0.0.1", server.port, local_ae("TWICE"), "PACSLINK", contexts)
    rq = P.AssociateRQ("PACSLINK", "TWICE", tuple(contexts),
                       P.UserInformation(16384, "2.25.1"))
    assoc.writer.write(rq.encode())
    await assoc.writer.drain()
    data = await _read_until_closed(assoc.reader, timeout=5)
    assoc.writer.close()
    assert data[:1] == b"\x07" and data[8:10] == bytes([2, 2])  # provider, unexpected PDU
    await _serves(server.port)


@pytest.mark.parametrize(
    "pdu",
    [
        pytest.param(struct.pack(">BxL", 7, 10) + bytes(10), id="A-ABORT-length-10"),
        pytest.param(struct.pack(">BxL", 6, 2) + bytes(2), id="A-RELEASE-RP-length-2"),
        pytest.param(struct.pack(">BxL", 9, 100) + bytes(100), id="unknown-type-9-with-body"),
        pytest.param(struct.pack(">BxL", 0xFF, 4 * MIB), id="unknown-type-255-4MiB"),
    ],
)
async def test_bad_pdu_on_an_association_closes_it_at_once(pdu: bytes) -> None:
    # Deadlines far away: a close within 10 s can only come from the bad PDU itself.
    server = DicomServer(MemorySCP(local_ae(acse_timeout=60, network_timeout=60,
                                            pdu_timeout=60)))
    await server.start("127.0.0.1", 0)
    try:
        await _bad_pdu_closes(server.port, pdu)
    finally:
        await server.close()


async def _bad_pdu_closes(port: int, pdu: bytes) -> None:
    contexts = build_contexts([(VERIFICATION, TS)])
    assoc = await associate("127.0.0.1", port, local_ae("BAD"), "PACSLINK", contexts)
    assoc.writer.write(pdu)
    await assoc.writer.drain()
    data = await _read_until_closed(assoc.reader, timeout=10)
    assoc.writer.close()
    assert data in (b"", P.Abort().encode()) or data[:1] == b"\x07"
    await _serves(port)
