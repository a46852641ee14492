"""Idle and drip-feeding connections cannot crowd out a peer that associates promptly."""

from __future__ import annotations

import asyncio
import contextlib

from pacslink.dicomnet.client import associate, c_echo
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.server import DicomServer
from tests.dicomnet.conftest import TS, VERIFICATION, MemorySCP, local_ae


async def _drip(port: int, stop: asyncio.Event) -> None:
    """Connect and feed an A-ASSOCIATE-RQ header one byte at a time, forever."""
    with contextlib.suppress(OSError):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for byte in b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 250:
                if stop.is_set() or writer.is_closing():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def test_200_idle_and_200_drip_feeding_connections_do_not_block_an_echo() -> None:
    server = DicomServer(MemorySCP(local_ae(acse_timeout=30)), max_pending=64,
                         max_pending_per_source=16)
    await server.start("127.0.0.1", 0)
    stop = asyncio.Event()
    idle: list[asyncio.StreamWriter] = []
    try:
        for _ in range(200):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            idle.append(writer)
        drips = [asyncio.create_task(_drip(server.port, stop)) for _ in range(200)]
        await asyncio.sleep(0.5)
        assert len(server._pending) <= 16  # all from 127.0.0.1: the per-source cap holds

        async def echo() -> int:
            contexts = build_contexts([(VERIFICATION, TS)])
            async with await associate("127.0.0.1", server.port, local_ae("LEGIT"), "PACSLINK",
                                       contexts) as assoc:
                return await c_echo(assoc)

        assert await asyncio.wait_for(echo(), 2) == 0
    finally:
        stop.set()
        for writer in idle:
            writer.close()
        await asyncio.gather(*drips, return_exceptions=True)
        await server.close()


async def test_drip_fed_association_request_is_closed_at_the_artim_deadline() -> None:
    server = DicomServer(MemorySCP(local_ae(acse_timeout=1, pdu_timeout=30)))
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        closed = False
        # a whole header, then the body one byte every 0.2 s: each read makes progress,
        # only the absolute deadline ends it
        writer.write(b"\x01\x00\x00\x00\x00\x80")
        for _ in range(50):
            try:
                writer.write(b"\x00")
                await writer.drain()
            except (ConnectionError, OSError):
                closed = True
                break
            try:
                data = await asyncio.wait_for(reader.read(10), 0.2)
                if data == b"" or data[:1] == b"\x07":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed
        assert loop.time() - start < 3  # deadline 1 s, not 30 s of per-PDU time
        writer.close()
    finally:
        await server.close()
