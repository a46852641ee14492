"""Hostile Query/Retrieve SCPs on pacslink's own engine, for tests of our SCU side.

A :class:`HostileServer` is a :class:`~pacslink.dicomnet.server.DicomServer` whose
C-FIND, C-MOVE and C-GET requests go to *scripts*: coroutines that send whatever
responses they like through an :class:`Exchange` -- 100,000 pending responses, a C-CANCEL
ignored, no final response, a 10 MB identifier, a response for another Message ID, a
pending response after the final one, C-MOVE counters that make no sense. The engine
still does the framing and negotiation, so the misbehaviour is exactly the one scripted.

Servers run on the test's event loop (``async with hostile_server(scp)``) or in a thread
of their own (``with hostile_thread(scp)``) for the CLI, which runs its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom import Dataset

from pacslink.conformance import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    PATIENT_ROOT_QR_FIND,
    STUDY_ROOT_QR_FIND,
    STUDY_ROOT_QR_GET,
    STUDY_ROOT_QR_MOVE,
)
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AEConfig, Association, Limits, Message
from pacslink.dicomnet.client import associate, c_store
from pacslink.dicomnet.commands import C_FIND_RQ, C_GET_RQ, C_MOVE_RQ, Command
from pacslink.dicomnet.errors import NetworkError
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.pump import MessagePump
from pacslink.dicomnet.server import DicomServer, ServiceProvider
from pacslink.dicomnet.suboperations import SubOperations
from pacslink.identifiers import decode_identifier, encode_identifier
from pacslink.models import QueryLevel, QueryMatch
from tests.factory import CT_IMAGE_STORAGE, make_ct, make_dataset_bytes

TS = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
Script = Callable[["Exchange"], Awaitable[None]]


@dataclass
class Exchange:
    """One C-FIND/C-MOVE/C-GET request as a script sees it."""

    scp: HostileSCP
    assoc: Association
    message: Message
    pump: MessagePump
    cancelled: asyncio.Event
    sent: int = 0
    peer_gone: bool = False
    error: str = ""

    @property
    def transfer_syntax(self) -> str:
        return self.message.context.transfer_syntax

    def request(self) -> QueryMatch:
        """The request's identifier, decoded (``.get(keyword)`` gives its values as text)."""
        return decode_identifier(self.message.dataset or b"", self.transfer_syntax, QueryLevel.STUDY)

    def encode(self, ds: Dataset) -> bytes:
        return encode_identifier(ds, self.transfer_syntax)

    async def respond(self, status: int, identifier: bytes | None = None, *,
                      message_id: int | None = None, **counters: int | None) -> None:
        """Send one response; ``message_id`` overrides Message ID Being Responded To."""
        rq = self.message.command
        fields: dict[str, Any] = {f"NumberOf{k.capitalize()}Suboperations": v
                                  for k, v in counters.items() if v is not None}
        command = Command(
            CommandField=rq.CommandField | 0x8000,
            MessageIDBeingRespondedTo=rq.MessageID if message_id is None else message_id,
            AffectedSOPClassUID=rq.AffectedSOPClassUID, Status=status, **fields)
        await self.assoc.send_message(self.message.context.context_id, command, identifier)
        self.sent += 1
        # drain() does not yield while the socket takes the data: let the peer (on the
        # same event loop) run, as it would in another process
        await asyncio.sleep(0)

    async def hang(self, limit: float = 60.0) -> None:
        """Send nothing more until the peer goes away (or ``limit`` seconds pass)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        task = self.pump._task
        while task is not None and not task.done() and loop.time() < end:
            await asyncio.sleep(0.02)
        self.peer_gone = task is not None and task.done()

    async def move_to_destination(self, port: int, datasets: Sequence[Dataset]) -> list[int]:
        """C-STORE ``datasets`` to the Move Destination on 127.0.0.1:``port``; the statuses."""
        rq = self.message.command
        local = AEConfig(self.scp.local.ae_title, "2.25.4711", "HOSTILE", Limits(
            connect_timeout=5, acse_timeout=5, dimse_timeout=10))
        contexts = build_contexts([(CT_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])])
        statuses = []
        async with await associate("127.0.0.1", port, local, (rq.MoveDestination or "").strip(),
                                   contexts) as out:
            ctx = out.context_for(CT_IMAGE_STORAGE)
            for ds in datasets:
                rsp = await c_store(out, ctx, ds.SOPClassUID, ds.SOPInstanceUID,
                                    make_dataset_bytes(ds), move_originator=(
                                        self.assoc.peer_ae_title, rq.MessageID or 0))
                statuses.append(rsp.Status if rsp.Status is not None else -1)
        return statuses

    async def get_back(self, datasets: Sequence[Dataset]) -> list[int]:
        """C-STORE ``datasets`` back on this association (C-GET sub-operations)."""
        sub = SubOperations(self.assoc, self.pump)
        statuses = []
        for ds in datasets:
            (ctx, *_) = sub.contexts_for(CT_IMAGE_STORAGE)
            rsp = await sub.store(ctx, ds.SOPInstanceUID, make_dataset_bytes(ds, ctx.transfer_syntax))
            statuses.append(rsp.Status if rsp.Status is not None else -1)
        return statuses


class HostileSCP(ServiceProvider):
    """Accepts Study/Patient Root FIND, MOVE, GET (and CT storage roles for C-GET).

    Parameters
    ----------
    ae_title : str
        Its AE title.
    find, move, get : Script, optional
        What to do for each request; a missing one answers from :attr:`catalog` (find)
        or not at all (0x0122).
    catalog : sequence of Dataset
        Instances the default C-FIND answers about (SERIES and IMAGE level), so that a
        retrieve can list what it expects.
    """

    supported = {STUDY_ROOT_QR_FIND: TS, PATIENT_ROOT_QR_FIND: TS, STUDY_ROOT_QR_MOVE: TS,
                 STUDY_ROOT_QR_GET: TS, CT_IMAGE_STORAGE: TS}
    scp_role_for = {CT_IMAGE_STORAGE}

    def __init__(self, ae_title: str = "HOSTILE", *, find: Script | None = None,
                 move: Script | None = None, get: Script | None = None,
                 catalog: Sequence[Dataset] = ()) -> None:
        super().__init__(AEConfig(ae_title, "2.25.4711", "HOSTILE", Limits(
            network_timeout=30, acse_timeout=5, dimse_timeout=10)))
        self.scripts: dict[int, Script] = {C_FIND_RQ: find or answer_from_catalog}
        if move is not None:
            self.scripts[C_MOVE_RQ] = move
        if get is not None:
            self.scripts[C_GET_RQ] = get
        self.catalog = list(catalog)
        self.exchanges: list[Exchange] = []
        self.events: list[str] = []

    def on_association(self, assoc: Association, event: str, detail: str = "") -> None:
        self.events.append(event)

    def of(self, field: int) -> list[Exchange]:
        """The exchanges of one command (C_FIND_RQ, C_MOVE_RQ, C_GET_RQ)."""
        return [x for x in self.exchanges if x.message.command.CommandField == field]


class HostileServer(DicomServer):
    """Hands C-FIND/C-MOVE/C-GET to the provider's scripts; the rest as usual."""

    provider: HostileSCP

    async def _dispatch(self, assoc: Association, message: Message, pump: MessagePump) -> None:
        script = self.provider.scripts.get(message.command.CommandField)
        if script is None:
            await super()._dispatch(assoc, message, pump)
            return
        message_id = message.command.MessageID or 0
        cancelled = asyncio.Event()
        pump.cancels[message_id] = cancelled
        exchange = Exchange(self.provider, assoc, message, pump, cancelled)
        self.provider.exchanges.append(exchange)
        try:
            await script(exchange)
        except NetworkError as exc:
            exchange.peer_gone, exchange.error = True, str(exc)
            raise
        finally:
            pump.cancels.pop(message_id, None)


async def answer_from_catalog(x: Exchange) -> None:
    """A correct C-FIND over :attr:`HostileSCP.catalog` (STUDY, SERIES, IMAGE level)."""
    rq = x.request()
    level = rq.get("QueryRetrieveLevel") or "STUDY"
    keys = {"STUDY": ("StudyInstanceUID",), "SERIES": ("StudyInstanceUID", "SeriesInstanceUID"),
            "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}[level]
    seen: set[tuple[str, ...]] = set()
    for ds in x.scp.catalog:
        if any(rq.get(k) and rq.get(k) != str(ds.get(k)) for k in keys):
            continue
        key = tuple(str(ds.get(k)) for k in keys)
        if key in seen:
            continue
        seen.add(key)
        match = Dataset()
        match.QueryRetrieveLevel = level
        match.PatientID = ds.PatientID
        for k in keys:
            setattr(match, k, ds.get(k))
        if level == "IMAGE":
            match.SOPClassUID = ds.SOPClassUID
        await x.respond(S.PENDING, x.encode(match))
    await x.respond(S.SUCCESS)


def study_of(count: int, patient_id: str = "HOST001") -> list[Dataset]:
    """``count`` tiny CT instances of one series of one study."""
    first = make_ct(patient_id=patient_id, rows=4, columns=4)
    rest = [make_ct(patient_id=patient_id, rows=4, columns=4,
                    study_instance_uid=first.StudyInstanceUID,
                    series_instance_uid=first.SeriesInstanceUID) for _ in range(count - 1)]
    return [first, *rest]


def study_match(x: Exchange, n: int, padding: int = 0) -> bytes:
    """A STUDY level match numbered ``n`` (with a private element of ``padding`` bytes)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = "FLOOD"
    ds.StudyInstanceUID = f"2.25.{n + 1}"
    if padding:
        ds.add_new(0x00090010, "LO", "HOSTILE")
        ds.add_new(0x00091010, "OB", b"x" * padding)
    return x.encode(ds)


@contextlib.asynccontextmanager
async def hostile_server(scp: HostileSCP) -> AsyncIterator[HostileServer]:
    """Run ``scp`` on this event loop, on a free 127.0.0.1 port."""
    server = HostileServer(scp)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


@contextlib.contextmanager
def hostile_thread(scp: HostileSCP) -> Iterator[int]:
    """Run ``scp`` in a thread with its own event loop; yields the port."""
    loop = asyncio.new_event_loop()
    server = HostileServer(scp)
    loop.run_until_complete(server.start("127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, name="hostile-scp", daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


__all__ = ["Exchange", "HostileSCP", "HostileServer", "answer_from_catalog", "hostile_server",
           "hostile_thread", "study_match", "study_of"]
