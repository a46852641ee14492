"""What the sender puts on the wire: P-DATA-TF PDUs of at most the peer's maximum length,
one PDV each, command then data set, last fragments flagged (PS3.8 9.3.5, PS3.7 E.2),
handed to the transport a batch of PDUs per write instead of one write per PDU.

A plain TCP server records every byte; the test parses the stream back into PDUs.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pacslink.dicomnet.association import WRITE_BATCH, AEConfig, Association, FileDataset
from pacslink.dicomnet.commands import C_STORE_RQ, DATASET_PRESENT, NO_DATASET, Command
from pacslink.dicomnet.errors import DIMSEError

CT = "1.2.840.10008.5.1.4.1.1.2"


@dataclass
class Wire:
    """An association whose peer only records bytes, and the writes it was given."""

    assoc: Association
    received: bytearray
    done: asyncio.Event
    writes: list[int]


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    received = bytearray()
    done = asyncio.Event()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 20):
            received.extend(data)
        writer.close()
        done.set()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assoc = Association(reader, writer, local=AEConfig("SCU", "2.25.1"), is_requestor=True)
    assoc.fsm.state = "Sta6"
    writes: list[int] = []
    original_lines, original_write = writer.writelines, writer.write

    def counting_lines(parts: list[bytes | memoryview]) -> None:
        writes.append(sum(len(p) for p in parts))
        original_lines(parts)

    def counting_write(data: bytes | memoryview) -> None:
        writes.append(len(data))
        original_write(data)

    writer.writelines = counting_lines  # type: ignore[method-assign]
    writer.write = counting_write  # type: ignore[method-assign]
    yield Wire(assoc, received, done, writes)
    writer.close()
    server.close()
    await server.wait_closed()


async def finish(wire: Wire) -> bytes:
    wire.assoc.writer.close()
    await asyncio.wait_for(wire.done.wait(), 5)
    return bytes(wire.received)


def parse(stream: bytes) -> list[tuple[int, int, int, bytes]]:
    """``(pdu length, context id, message control header, data)`` per PDU; one PDV each."""
    pdus = []
    pos = 0
    while pos < len(stream):
        pdu_type, length = struct.unpack_from(">BxL", stream, pos)
        assert pdu_type == 0x04
        body = stream[pos + 6 : pos + 6 + length]
        assert len(body) == length
        (item_length,) = struct.unpack_from(">L", body)
        assert item_length + 4 == length, "exactly one PDV per PDU"
        pdus.append((length, body[4], body[5], body[6:]))
        pos += 6 + length
    return pdus


def store_rq() -> Command:
    return Command(CommandField=C_STORE_RQ, MessageID=7, AffectedSOPClassUID=CT,
                   AffectedSOPInstanceUID="1.2.3.4", Priority=0)


async def test_file_is_sent_as_pdus_of_the_peers_maximum_in_few_writes(
    wire: Wire, tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 2048 + b"tail"  # 512 KiB + 4: the last PDU is short
    path = tmp_path / "ct.dcm"
    path.write_bytes(b"META" * 33 + payload)
    wire.assoc.peer_max_pdu = 16384
    await wire.assoc.send_message(3, store_rq(), FileDataset(path, 132, len(payload)))
    pdus = parse(await finish(wire))

    command = Command.decode(pdus[0][3])
    assert pdus[0][1:3] == (3, 0x03)
    assert command.CommandDataSetType == DATASET_PRESENT and command.MessageID == 7
    data = pdus[1:]
    assert b"".join(d for *_, d in data) == payload
    assert all(length <= 16384 for length, *_ in pdus)
    assert [length for length, *_ in data[:-1]] == [16384] * (len(data) - 1)
    assert [(ctx, flags) for _, ctx, flags, _ in data] == [(3, 0)] * (len(data) - 1) + [(3, 2)]
    # a write per batch of PDUs, the command in the first one
    batch = 16378 * (WRITE_BATCH // 16378)  # whole PDVs of 16384 - 6 bytes
    assert len(wire.writes) == math.ceil(len(payload) / batch) < len(data) / 4
    assert sum(wire.writes) == sum(6 + length for length, *_ in pdus)


async def test_data_set_in_memory_larger_than_a_batch(wire: Wire) -> None:
    payload = bytes(range(251)) * 12000  # ~2.9 MB: several batches
    wire.assoc.peer_max_pdu = 65536
    await wire.assoc.send_message(1, store_rq(), payload)
    pdus = parse(await finish(wire))
    assert pdus[0][2] == 0x03
    assert b"".join(d for *_, d in pdus[1:]) == payload
    assert [flags for _, _, flags, _ in pdus[1:]] == [0] * (len(pdus) - 2) + [2]
    assert all(length <= 65536 for length, *_ in pdus)
    assert len(wire.writes) == math.ceil(len(payload) / (65530 * (WRITE_BATCH // 65530)))


async def test_unlimited_peer_gets_large_pdus_and_an_empty_data_set_one_last_pdv(
    wire: Wire, tmp_path: Path
) -> None:
    wire.assoc.peer_max_pdu = 0  # no limit announced (PS3.8 D.1)
    payload = b"\x01" * (3 * 2**20)
    await wire.assoc.send_message(1, store_rq(), payload)
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"x" * 10)
    await wire.assoc.send_message(1, store_rq(), FileDataset(path, 10, 0))
    await wire.assoc.send_message(1, Command(CommandField=0x0030, MessageID=9,
                                             AffectedSOPClassUID="1.2.840.10008.1.1"))
    pdus = parse(await finish(wire))
    assert [(flags, len(data)) for _, _, flags, data in pdus[1:2]] == [(2, len(payload))]
    assert pdus[2][2] == 0x03 and pdus[3][2:] == (0x02, b"")
    echo = Command.decode(pdus[4][3])
    assert pdus[4][2] == 0x03 and echo.CommandDataSetType == NO_DATASET and echo.MessageID == 9
    assert len(pdus) == 5


async def test_files_one_after_another_reuse_the_buffer_without_mixing_bytes(
    wire: Wire, tmp_path: Path
) -> None:
    # a large file, then a small one that fits in a part of the buffer the first left
    # behind, then a large one again: each data set arrives exactly, nothing of another
    wire.assoc.peer_max_pdu = 16384
    payloads = [b"\xaa" * 700_000, b"small data set", bytes(range(256)) * 1500]
    for i, payload in enumerate(payloads):
        path = tmp_path / f"{i}.dcm"
        path.write_bytes(b"P" * 132 + payload)
        await wire.assoc.send_message(3, store_rq(), FileDataset(path, 132, len(payload)))
    pdus = parse(await finish(wire))
    received: list[bytes] = []
    for _, _, flags, data in pdus:
        if flags & 1:  # a command starts the next data set
            received.append(b"")
        else:
            received[-1] += data
    assert received == payloads


async def test_file_that_shrank_while_being_sent_is_an_error(wire: Wire, tmp_path: Path) -> None:
    path = tmp_path / "short.dcm"
    path.write_bytes(b"P" * 132 + b"\x01" * 1000)
    with pytest.raises(DIMSEError, match="shrank while being sent"):
        await wire.assoc.send_message(3, store_rq(), FileDataset(path, 132, 5000))
