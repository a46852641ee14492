"""One DICOM association over an asyncio stream (PS3.8 upper layer + PS3.7 message exchange).

An :class:`Association` is created by :func:`pacslink.dicomnet.client.associate` (requestor)
or by :class:`pacslink.dicomnet.server.DicomServer` (acceptor). It reads PDUs with limits
checked *before* anything is allocated (PS3.8 9.3.1 lengths; our announced maximum for
P-DATA-TF; 64 KiB for A-ASSOCIATE), keeps the PS3.8 state machine, and exchanges DIMSE
messages (PS3.7 Annex E fragmentation): command and data set PDVs are split to the
peer's maximum length on sending, and data set fragments are streamed into a
:class:`DatasetSink` on receiving, so no whole data set needs to be in memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.commands import DATASET_PRESENT, NO_DATASET, Command
from pacslink.dicomnet.errors import (
    AssociationAborted,
    DatasetTooLarge,
    DIMSEError,
    NetworkError,
    NetworkTimeout,
    NoAcceptedContext,
    PDUError,
)
from pacslink.dicomnet.deadline import ReadDeadline
from pacslink.dicomnet.fsm import PDU_EVENTS, StateMachine
from pacslink.dicomnet.tls import describe_tls_error

log = logging.getLogger(__name__)

_PDV_HEADER = struct.Struct(">BxLLBB")  # PDU header + one PDV item header

#: Bytes of a data set read from its file and handed to the transport per write (whole
#: PDUs, at least one): a 512 KB image is two reads and two writes, not one per PDU.
#: Larger batches measured slower on loopback: what the socket does not take at once,
#: asyncio copies into its own buffer and trims after each partial send.
WRITE_BATCH = 1 << 18


@dataclass(frozen=True)
class Limits:
    """Sizes and deadlines of one association; every read is bounded by one of them.

    Parameters
    ----------
    max_pdu_length : int
        Maximum Length we announce as receiver (PS3.8 D.1); P-DATA-TF PDUs longer than
        this are refused before their body is read. 0 is not allowed here.
    max_associate_pdu : int
        Cap for A-ASSOCIATE-RQ/AC/RJ bodies.
    max_command_length : int
        Cap for a reassembled command set.
    max_memory_dataset : int
        Cap for a data set received into memory (identifiers, not C-STORE data).
    max_identifier_length : int
        Cap for the identifier of one C-FIND response (one match, PS3.4 C.4.1.1.3.2),
        received into memory; a peer sending a larger one is aborted as soon as the cap
        is passed, so a hostile peer cannot make us hold more than this per response.
    connect_timeout, acse_timeout, network_timeout, pdu_timeout, dimse_timeout : float
        Seconds for: TCP connect; association negotiation and release (ARTIM,
        PS3.8 9.1.5); silence between PDUs; reading one PDU once its header started;
        waiting for a DIMSE response.
    """

    max_pdu_length: int = 262_144
    max_associate_pdu: int = 65_536
    max_command_length: int = 65_536
    max_memory_dataset: int = 64 * 2**20
    max_identifier_length: int = 2**20
    connect_timeout: float = 10.0
    acse_timeout: float = 30.0
    network_timeout: float = 60.0
    pdu_timeout: float = 30.0
    dimse_timeout: float = 60.0


@dataclass(frozen=True)
class AEConfig:
    """Who we are on the wire: our AE title and implementation identity (PS3.7 D.3.3.2)."""

    ae_title: str
    implementation_class_uid: str
    implementation_version_name: str = ""
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class AcceptedContext:
    """A presentation context both sides agreed on.

    ``scu_role``/``scp_role`` are the roles of the association *requestor* for this
    abstract syntax (PS3.7 D.3.3.4); without role selection the requestor is SCU only.
    """

    context_id: int
    abstract_syntax: str
    transfer_syntax: str
    scu_role: bool = True
    scp_role: bool = False


#: The first byte of a TLS ClientHello (RFC 8446 5.1, record content type "handshake").
_TLS_HANDSHAKE_RECORD = 0x16


class DatasetSink(Protocol):
    """Where the fragments of a received data set go (e.g. a file in the store)."""

    def write(self, data: bytes | memoryview) -> None: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class FileDataset:
    """A data set that lives in a file region (sent by streaming from disk)."""

    path: Path
    offset: int
    length: int


@dataclass
class Message:
    """A complete DIMSE message as received.

    For a C-STORE whose data set went to a sink, ``dataset`` is ``None`` and ``sink`` is
    the object that received it; ``sink_error`` holds the exception the sink raised
    (the rest of the data set was then read and discarded, so the association can go on).
    """

    context: AcceptedContext
    command: Command
    dataset: bytes | None = None
    sink: DatasetSink | None = None
    sink_error: BaseException | None = None


class SinkFactory(Protocol):
    def __call__(
        self, assoc: Association, context: AcceptedContext, command: Command
    ) -> DatasetSink | None: ...


class Association:
    """An established (or establishing) association on one TCP connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        local: AEConfig,
        is_requestor: bool,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.local = local
        self.limits = local.limits
        self.is_requestor = is_requestor
        self.fsm = StateMachine(is_requestor=is_requestor, state="Sta5" if is_requestor else "Sta2")
        self.rq: P.AssociateRQ | None = None
        self.ac: P.AssociateAC | None = None
        self.contexts: dict[int, AcceptedContext] = {}
        self.peer_max_pdu = 0
        #: Reused by :meth:`_send_file` for each batch of PDUs (the transport copies
        #: whatever it cannot send at once, so the buffer is free again after a write).
        self._send_buffer = bytearray()
        self.peer_address: tuple[str, int] = _peer(writer)
        self._pending: deque[P.PDV] = deque()
        self._deadline = ReadDeadline()
        self._message_id = 0
        self._closed = False
        self._discarded = False
        set_nodelay(writer)

    # --- identity ---------------------------------------------------------------------

    @property
    def peer_ae_title(self) -> str:
        """The AE title of the other side."""
        if self.rq is None:
            return ""
        return self.rq.called_ae_title if self.is_requestor else self.rq.calling_ae_title

    @property
    def is_established(self) -> bool:
        return self.fsm.state == "Sta6"

    def next_message_id(self) -> int:
        """Message IDs 1..65535, wrapping (PS3.7 9.1.1.1.1 leaves uniqueness to us)."""
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def context_for(self, abstract_syntax: str, transfer_syntax: str | None = None) -> AcceptedContext:
        """The first accepted context for an abstract syntax (and transfer syntax)."""
        for ctx in self.contexts.values():
            if ctx.abstract_syntax == abstract_syntax and (
                transfer_syntax is None or ctx.transfer_syntax == transfer_syntax
            ):
                return ctx
        wanted = abstract_syntax + (f" with {transfer_syntax}" if transfer_syntax else "")
        raise NoAcceptedContext(f"the peer accepted no presentation context for {wanted}")

    # --- PDU level --------------------------------------------------------------------

    async def read_pdu(self, timeout: float | None) -> tuple[int, bytes]:
        """Read one PDU, enforcing type, length limits and deadlines.

        Returns ``(pdu_type, body)``. The state machine is advanced; an event the
        current state does not allow raises :class:`PDUError` after sending A-ABORT.
        When nothing at all arrives within ``timeout``, :class:`NetworkTimeout` is raised
        with the association intact (nothing was consumed): the caller decides whether
        to wait again or to abort. A PDU that starts but does not finish within the
        per-PDU deadline aborts the association.
        """
        reader = self.reader
        try:
            if _buffered(reader) >= 6:  # already received: no deadline to arm
                header = await reader.readexactly(6)
            else:
                header = await self._read_within(6, timeout)
        except TimeoutError as exc:
            raise NetworkTimeout(f"no PDU from the peer within {timeout:g} s") from exc
        except ssl.SSLError as exc:
            raise self._tls_failed(exc) from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self._closed_by_peer()
            raise AssociationAborted("the peer closed the connection") from exc
        pdu_type, length = P.decode_pdu_header(header)
        if pdu_type not in P.PDU_TYPES:
            await self._provider_abort(P.ABORT_REASON_UNRECOGNIZED_PDU)
            hint = " (a TLS handshake record: the peer expects DICOM TLS here)" if (
                pdu_type == _TLS_HANDSHAKE_RECORD and self.rq is None) else ""
            raise PDUError(f"unrecognized PDU type 0x{pdu_type:02X}{hint}")
        limit = self._length_limit(pdu_type)
        if length > limit or (pdu_type in P.FIXED_LENGTHS and length != P.FIXED_LENGTHS[pdu_type]):
            await self._provider_abort(P.ABORT_REASON_INVALID_PARAMETER)
            raise PDUError(f"PDU type 0x{pdu_type:02X} of {length} bytes exceeds the limit {limit}"
                           if length > limit else
                           f"PDU type 0x{pdu_type:02X} must have length {P.FIXED_LENGTHS[pdu_type]}")
        try:
            if _buffered(reader) >= length:
                body = await reader.readexactly(length)
            else:
                body = await self._read_within(length, self.limits.pdu_timeout)
        except TimeoutError as exc:
            await self.abort()
            raise NetworkTimeout(
                f"PDU of {length} bytes not complete within {self.limits.pdu_timeout:g} s"
            ) from exc
        except ssl.SSLError as exc:
            raise self._tls_failed(exc) from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self._closed_by_peer()
            raise AssociationAborted("the peer closed the connection in the middle of a PDU") from exc
        try:
            action = self.fsm.fire(PDU_EVENTS[pdu_type])
        except PDUError:
            await self._provider_abort(P.ABORT_REASON_UNEXPECTED_PDU)
            raise
        if action in ("AA-1", "AA-7", "AA-8"):
            await self._provider_abort(P.ABORT_REASON_UNEXPECTED_PDU)
            raise PDUError(f"unexpected PDU type 0x{pdu_type:02X}")
        if pdu_type == P.A_ABORT:
            abort = P.Abort.decode(body)
            await self.close()
            raise AssociationAborted(f"association {abort.describe()}")
        return pdu_type, body

    async def _read_within(self, n: int, timeout: float | None) -> bytes:
        """``readexactly(n)``, raising :class:`TimeoutError` after ``timeout`` seconds."""
        deadline = self._deadline
        deadline.arm(timeout)
        try:
            return await self.reader.readexactly(n)
        except asyncio.CancelledError:
            deadline.raise_if_expired()
            raise
        finally:
            deadline.disarm()

    def _tls_failed(self, exc: ssl.SSLError) -> AssociationAborted:
        """A TLS alert or a bad record ended the connection (e.g. the server refused our
        certificate after a TLS 1.3 handshake had finished on our side)."""
        self._closed_by_peer()
        reason = describe_tls_error(exc, server_side=not self.is_requestor)
        return AssociationAborted(f"the TLS session ended: {reason}")

    def _length_limit(self, pdu_type: int) -> int:
        if pdu_type == P.P_DATA_TF:
            return self.limits.max_pdu_length
        if pdu_type in (P.A_ASSOCIATE_RQ, P.A_ASSOCIATE_AC, P.A_ASSOCIATE_RJ):
            return self.limits.max_associate_pdu
        return 4

    async def send_pdu(self, encoded: bytes, event: str = "Evt9") -> None:
        """Send an encoded PDU after advancing the state machine with ``event``."""
        self.fsm.fire(event)
        await self._write(encoded)

    async def _write(self, *parts: bytes | memoryview) -> None:
        if self._closed:
            raise AssociationAborted("the association is closed")
        try:
            if len(parts) == 1:
                self.writer.write(parts[0])  # writelines would join (copy) even one part
            else:
                self.writer.writelines(parts)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self._closed_by_peer()
            raise AssociationAborted(f"connection lost while sending: {exc}") from exc

    # --- ending -----------------------------------------------------------------------

    async def release(self) -> None:
        """Orderly release as requestor (PS3.8 7.2), handling release collision.

        The ACSE timeout bounds the whole release, not each PDU: a peer that keeps
        sending P-DATA-TF instead of A-RELEASE-RP (PS3.8 allows some in Sta7) is
        aborted when it runs out.
        """
        if self.fsm.state != "Sta6":
            await self.close()
            return
        await self.send_pdu(P.ReleaseRQ().encode(), "Evt11")
        try:
            async with asyncio.timeout(self.limits.acse_timeout):
                while self.fsm.state not in ("Sta1", "Sta13"):
                    pdu_type, _ = await self.read_pdu(self.limits.acse_timeout)
                    if pdu_type == P.A_RELEASE_RQ and self.fsm.state == "Sta9":
                        await self.send_pdu(P.ReleaseRP().encode(), "Evt14")
        except TimeoutError:
            await self.abort()
        except NetworkError:
            pass
        await self.close()

    async def answer_release(self) -> None:
        """Reply A-RELEASE-RP to the peer's A-RELEASE-RQ and close (acceptor side)."""
        if self.fsm.state in ("Sta8", "Sta12"):
            await self.send_pdu(P.ReleaseRP().encode(), "Evt14")
        await self.close()

    async def abort(self, reason: int = P.ABORT_REASON_NOT_SPECIFIED) -> None:
        """Send A-ABORT (service user) and close; safe to call at any time."""
        await self._send_abort(P.Abort(P.ABORT_SOURCE_USER, reason))

    async def _provider_abort(self, reason: int) -> None:
        await self._send_abort(P.Abort(P.ABORT_SOURCE_PROVIDER, reason))

    async def _send_abort(self, abort: P.Abort) -> None:
        if not self._closed:
            try:
                self.writer.write(abort.encode())
                async with asyncio.timeout(2):
                    await self.writer.drain()
            except (ConnectionError, OSError, TimeoutError):
                pass
        self.fsm.state = "Sta13"
        await self.close()

    def _closed_by_peer(self) -> None:
        self.fsm.state = "Sta1"
        self._closed = True
        self._deadline.close()
        self.writer.close()

    def discard(self) -> None:
        """Drop the connection at once, sending nothing.

        For a connection that never became an association, such as one whose TLS
        handshake failed or did not finish: there is nothing to abort and no TLS session
        to shut down, and asyncio may never report such a connection closed.
        """
        self._closed = self._discarded = True
        self._deadline.close()
        self.fsm.state = "Sta1"
        self.writer.transport.abort()

    async def close(self) -> None:
        """Close the transport (idempotent)."""
        self._deadline.close()
        if self._discarded:
            return
        if not self._closed:
            self._closed = True
            self.writer.close()
        try:
            async with asyncio.timeout(2):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            pass
        if self.fsm.state != "Sta1":
            self.fsm.state = "Sta1"

    # --- DIMSE messages ---------------------------------------------------------------

    def _max_fragment(self) -> int:
        peer = self.peer_max_pdu or 4 * 2**20
        return max(peer - 6, 2)

    async def send_message(
        self,
        context_id: int,
        command: Command,
        dataset: bytes | FileDataset | None = None,
    ) -> None:
        """Send a command (and data set) fragmented to the peer's maximum (PS3.7 E.2).

        Each fragment is a P-DATA-TF PDU of its own; the command and the first
        :data:`WRITE_BATCH` bytes of the data set are handed to the transport in one
        write, the rest one batch of PDUs per write.
        """
        wanted = NO_DATASET if dataset is None else DATASET_PRESENT
        if command.CommandDataSetType != wanted:
            command = command.with_(CommandDataSetType=wanted)
        self.fsm.fire("Evt9")
        parts = self._fragments(context_id, command.encode(), 1)
        if isinstance(dataset, FileDataset):
            await self._send_file(context_id, dataset, parts)
        elif dataset is not None:
            await self._send_bytes(context_id, dataset, parts)
        else:
            await self._write(*parts)

    def _batch(self) -> int:
        """Bytes of data set per write: whole fragments, about :data:`WRITE_BATCH`."""
        size = self._max_fragment()
        return size * max(1, WRITE_BATCH // size)

    def _fragments(
        self, context_id: int, data: bytes | memoryview, flag: int, last: bool = True
    ) -> list[bytes | memoryview]:
        """PDU headers and PDV data of ``data``, split to the peer's maximum; ``flag`` 1
        for command fragments; the final one marked last when ``last`` (PS3.8 E.2)."""
        size = self._max_fragment()
        total = len(data)
        if total <= size:
            return [_PDV_HEADER.pack(P.P_DATA_TF, total + 6, total + 2, context_id,
                                     flag | (2 if last else 0)), data]
        view = memoryview(data)
        parts: list[bytes | memoryview] = []
        for pos in range(0, total, size):
            chunk = view[pos : pos + size]
            end = last and pos + size >= total
            parts.append(_PDV_HEADER.pack(
                P.P_DATA_TF, len(chunk) + 6, len(chunk) + 2, context_id, flag | (2 if end else 0)
            ))
            parts.append(chunk)
        return parts

    async def _send_bytes(
        self, context_id: int, data: bytes, head: list[bytes | memoryview]
    ) -> None:
        """Send ``data`` after the PDUs in ``head``, one batch of PDUs per write."""
        batch = self._batch()
        view = memoryview(data)
        for start in range(0, max(len(view), 1), batch):
            chunk = view[start : start + batch]
            last = start + batch >= len(view)
            head += self._fragments(context_id, chunk, 0, last=last)
            await self._write(*head)
            head = []

    async def _send_file(
        self, context_id: int, source: FileDataset, head: list[bytes | memoryview]
    ) -> None:
        """Stream ``source`` after the PDUs in ``head``, about :data:`WRITE_BATCH` per write.

        Each batch of P-DATA-TF PDUs is built in one buffer kept by the association:
        the PDU and PDV headers are packed in place and the file is read straight
        into the gaps between them, so the data set is copied once (file to buffer)
        before the kernel takes it, and no memory is allocated per batch.
        """
        size = self._max_fragment()
        per_batch = max(1, WRITE_BATCH // size)
        remaining = source.length
        prefix = b"".join(head)
        needed = len(prefix) + min(per_batch, max(1, -(-remaining // size))) * (size + 12)
        if len(self._send_buffer) < needed:
            self._send_buffer = bytearray(needed)
        buffer = self._send_buffer
        view = memoryview(buffer)
        with open(source.path, "rb", buffering=0) as f:
            f.seek(source.offset)
            pos = len(prefix)
            view[:pos] = prefix
            while True:
                for _ in range(per_batch):
                    n = min(size, remaining)
                    remaining -= n
                    _PDV_HEADER.pack_into(buffer, pos, P.P_DATA_TF, n + 6, n + 2, context_id,
                                          2 if remaining == 0 else 0)
                    pos += 12
                    if n and f.readinto(view[pos : pos + n]) != n:
                        raise DIMSEError(f"{source.path} shrank while being sent")
                    pos += n
                    if remaining == 0:
                        break
                await self._write(view[:pos])
                if remaining == 0:
                    return
                pos = 0

    async def _next_pdv(self, timeout: float | None) -> P.PDV | None:
        """The next PDV; ``None`` when the peer asked to release (already answered)."""
        while not self._pending:
            pdu_type, body = await self.read_pdu(timeout)
            if pdu_type == P.P_DATA_TF:
                try:
                    pdvs = P.iter_pdvs(body)
                except PDUError:
                    await self._provider_abort(P.ABORT_REASON_INVALID_PARAMETER)
                    raise
                self._pending.extend(pdvs)
            elif pdu_type == P.A_RELEASE_RQ:
                return None
            else:
                await self._provider_abort(P.ABORT_REASON_UNEXPECTED_PDU)
                raise PDUError(f"unexpected PDU type 0x{pdu_type:02X} during data transfer")
        return self._pending.popleft()

    async def receive_message(
        self, *, timeout: float | None = None, sink_factory: SinkFactory | None = None,
        max_dataset: int | None = None,
    ) -> Message | None:
        """Receive one complete DIMSE message.

        Parameters
        ----------
        timeout : float, optional
            Deadline for the first PDU of the message; later PDUs get the network timeout.
        sink_factory : callable, optional
            Called when a command announcing a data set is complete; the sink it returns
            receives the data set fragments as they arrive. ``None`` (or a factory
            returning ``None``) collects the data set in memory, capped by
            :attr:`Limits.max_memory_dataset`.
        max_dataset : int, optional
            A smaller cap for a data set collected in memory (e.g. a C-FIND identifier).
            Passing it raises :class:`DatasetTooLarge` after A-ABORT.

        Returns
        -------
        Message or None
            ``None`` when the peer sent A-RELEASE-RQ between messages (state Sta8: the
            caller answers with :meth:`answer_release`).
        """
        command_buf = bytearray()
        command: Command | None = None
        context: AcceptedContext | None = None
        sink: DatasetSink | None = None
        memory: bytearray | None = None
        sink_error: BaseException | None = None
        cap = self.limits.max_memory_dataset if max_dataset is None else max_dataset
        wait = timeout
        try:
            while True:
                pdv = await self._next_pdv(wait)
                wait = self.limits.network_timeout
                if pdv is None:
                    if context is not None:
                        raise await self._dimse_violation("A-RELEASE-RQ in the middle of a message")
                    return None
                if context is None:
                    context = self.contexts.get(pdv.context_id)
                    if context is None:
                        raise await self._dimse_violation(
                            f"PDV for presentation context {pdv.context_id}, which was not accepted"
                        )
                elif pdv.context_id != context.context_id:
                    raise await self._dimse_violation("PDVs of one message on different contexts")
                if pdv.is_command:
                    if command is not None:
                        raise await self._dimse_violation("command fragment after the command ended")
                    command_buf += pdv.data
                    if len(command_buf) > self.limits.max_command_length:
                        raise await self._dimse_violation("command set larger than the limit")
                    if not pdv.is_last:
                        continue
                    try:
                        command = Command.decode(command_buf)
                    except DIMSEError:
                        await self._provider_abort(P.ABORT_REASON_INVALID_PARAMETER)
                        raise
                    if not command.has_dataset:
                        return Message(context, command)
                    if sink_factory is not None:
                        try:
                            sink = sink_factory(self, context, command)
                        except Exception as exc:  # reported as a DIMSE status by the caller
                            sink_error = exc
                    if sink is None and sink_error is None:
                        memory = bytearray()
                    continue
                if command is None:
                    raise await self._dimse_violation("data set fragment before its command")
                if sink_error is None:
                    if sink is not None:
                        try:
                            sink.write(pdv.data)
                        except Exception as exc:
                            sink_error = exc
                            sink.abort()
                    elif memory is not None:
                        memory += pdv.data
                        if len(memory) > cap:
                            await self._provider_abort(P.ABORT_REASON_UNEXPECTED_PARAMETER)
                            raise DatasetTooLarge(
                                f"{command.name} data set larger than {cap} bytes", cap)
                if pdv.is_last:
                    return Message(
                        context, command, bytes(memory) if memory is not None else None,
                        sink, sink_error,
                    )
        except NetworkTimeout:
            if sink is not None:
                sink.abort()
            if context is not None:  # the message had started: the stream is unusable
                await self.abort()
            raise
        except BaseException:
            if sink is not None:
                sink.abort()
            raise

    async def _dimse_violation(self, what: str) -> DIMSEError:
        await self._provider_abort(P.ABORT_REASON_UNEXPECTED_PARAMETER)
        return DIMSEError(what)

    async def request(
        self,
        context_id: int,
        command: Command,
        dataset: bytes | FileDataset | None = None,
    ) -> Message:
        """Send a request and wait for its single (final) response."""
        await self.send_message(context_id, command, dataset)
        return await self.expect_response(command)

    async def expect_response(self, request: Command) -> Message:
        """Wait for the response to ``request`` within the DIMSE timeout."""
        message = await self.receive_message(timeout=self.limits.dimse_timeout)
        if message is None:
            raise AssociationAborted("the peer released the association before answering")
        rsp = message.command
        if rsp.CommandField != request.CommandField | 0x8000:
            raise DIMSEError(f"expected the response to {request.name}, got {rsp.name}")
        if rsp.MessageIDBeingRespondedTo != request.MessageID:
            raise DIMSEError(
                f"response to message {rsp.MessageIDBeingRespondedTo}, expected {request.MessageID}"
            )
        return message


def _buffered(reader: asyncio.StreamReader) -> int:
    """How many bytes ``reader`` already holds (0 if that cannot be told).

    A read that these bytes satisfy completes without waiting, so it needs no deadline:
    arming and cancelling one costs more than the read (several per PDU).
    """
    buffer = getattr(reader, "_buffer", None)
    return len(buffer) if isinstance(buffer, bytearray) else 0


def set_nodelay(writer: asyncio.StreamWriter) -> None:
    """Disable Nagle's algorithm: DIMSE is request/response, delayed ACKs stall it."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _peer(writer: asyncio.StreamWriter) -> tuple[str, int]:
    peer: Any = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return ("?", 0)
