"""A minimal in-memory Storage SCP on our engine, for engine-level tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from pacslink.dicomnet.association import AcceptedContext, AEConfig, Association, Limits, Message
from pacslink.dicomnet.commands import Command
from pacslink.dicomnet.server import DicomServer, ServiceProvider, StatusResult

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
TS = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]


@dataclass
class MemorySink:
    chunks: list[bytes] = field(default_factory=list)
    aborted: bool = False

    def write(self, data: memoryview) -> None:
        self.chunks.append(bytes(data))

    def abort(self) -> None:
        self.aborted = True


class MemorySCP(ServiceProvider):
    supported = {VERIFICATION: TS, CT: TS}

    def __init__(self, local: AEConfig) -> None:
        super().__init__(local)
        self.received: dict[str, bytes] = {}
        self.sinks: list[MemorySink] = []

    def open_dataset_sink(self, assoc: Association, context: AcceptedContext,
                          command: Command) -> MemorySink:
        sink = MemorySink()
        self.sinks.append(sink)
        return sink

    async def on_c_store(self, assoc: Association, message: Message) -> StatusResult:
        assert isinstance(message.sink, MemorySink)
        self.received[message.command.AffectedSOPInstanceUID or ""] = b"".join(message.sink.chunks)
        return 0


def local_ae(title: str = "PACSLINK", **limits: float) -> AEConfig:
    return AEConfig(title, "2.25.1234", "PACSLINK_TEST", Limits(**limits))  # type: ignore[arg-type]


@pytest.fixture
async def memory_server() -> AsyncIterator[tuple[DicomServer, MemorySCP]]:
    provider = MemorySCP(local_ae(acse_timeout=2, network_timeout=5, pdu_timeout=2))
    server = DicomServer(provider, max_associations=4)
    await server.start("127.0.0.1", 0)
    try:
        yield server, provider
    finally:
        await server.close()


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)
