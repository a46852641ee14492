"""Acceptor side: a TCP server that negotiates associations and dispatches DIMSE requests.

A :class:`ServiceProvider` decides what is accepted and answers each request; the
:class:`DicomServer` owns sockets, deadlines and the maximum number of associations.
Handlers are small: decode the request, call the injected service, map what happened to a
DIMSE status (PS3.7 Annex C). A handler that raises never takes the server down: the
request gets a failure status, or the association is aborted, and the server serves on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import (
    AcceptedContext,
    AEConfig,
    Association,
    DatasetSink,
    Message,
)
from pacslink.dicomnet.commands import (
    C_ECHO_RQ,
    C_ECHO_RSP,
    C_FIND_RQ,
    C_GET_RQ,
    C_MOVE_RQ,
    C_STORE_RQ,
    C_STORE_RSP,
    Command,
)
from pacslink.dicomnet.errors import NetworkError, NetworkTimeout, TLSError
from pacslink.dicomnet.negotiation import answer_request, check_request
from pacslink.dicomnet.pump import MessagePump
from pacslink.dicomnet.qr import QRResponse
from pacslink.dicomnet.suboperations import SubOperations
from pacslink.dicomnet.tls import peer_closed, peer_summary, start_tls

log = logging.getLogger(__name__)

#: A handler's answer: a status, or a status with an Error Comment (PS3.7 C.4).
StatusResult = int | tuple[int, str]
#: An acceptance check's answer: ``None`` to go on, else the A-ASSOCIATE-RJ to send,
#: optionally with a sentence for the log saying why and what to change.
Rejection = P.AssociateRJ | tuple[P.AssociateRJ, str]


class ServiceProvider:
    """What an acceptor offers; subclass and override the ``on_*`` methods.

    Attributes
    ----------
    supported : mapping
        Abstract syntax -> accepted transfer syntaxes.
    scp_role_for : collection of str
        Abstract syntaxes for which the requestor may act as SCP (C-GET sub-operations).
    """

    supported: Mapping[str, Collection[str]] = {}
    scp_role_for: Collection[str] = ()

    def __init__(self, local: AEConfig) -> None:
        self.local = local

    async def check_association(
        self, rq: P.AssociateRQ, peer: tuple[str, int]
    ) -> Rejection | None:
        """Accept or reject a request before contexts are looked at.

        The default accepts any calling AE and requires the called AE title to be ours
        (PS3.8 Table 9-21: reason 7, "called-AE-title-not-recognized"). An override may
        await (e.g. resolve host names) but should bound its waits: the requestor's ARTIM
        timer runs until it gets an answer (PS3.8 9.1.5). Returning ``(rj, explanation)``
        adds the explanation to the WARNING the server logs.
        """
        ours = self.local.ae_title.strip()
        if rq.called_ae_title.strip() != ours:
            return (P.AssociateRJ(P.RJ_PERMANENT, P.RJ_SOURCE_USER, 7),
                    f"it called {printable(rq.called_ae_title.strip())!r}, but this AE is "
                    f"{ours!r}; set the called (destination) AE title on the caller to {ours}")
        return None

    async def on_c_echo(self, assoc: Association, message: Message) -> StatusResult:
        """C-ECHO (PS3.7 9.1.5): success by default."""
        return S.SUCCESS

    def open_dataset_sink(
        self, assoc: Association, context: AcceptedContext, command: Command
    ) -> DatasetSink | None:
        """Where the data set of ``command`` should stream to (``None``: into memory)."""
        return None

    async def on_c_store(self, assoc: Association, message: Message) -> StatusResult:
        """C-STORE (PS3.7 9.1.1); by default the SOP class is not supported."""
        return S.SOP_CLASS_NOT_SUPPORTED

    def on_c_find(
        self, assoc: Association, message: Message, cancelled: asyncio.Event
    ) -> AsyncIterator[QRResponse]:
        """C-FIND (PS3.4 C.4.1): yield pending matches, then optionally a final response.

        Stop early when ``cancelled`` is set; the server then answers Cancel (0xFE00).
        """
        return _unsupported()

    def on_c_move(
        self, assoc: Association, message: Message, cancelled: asyncio.Event
    ) -> AsyncIterator[QRResponse]:
        """C-MOVE (PS3.4 C.4.2): perform sub-operations, yield pending counters, then the final."""
        return _unsupported()

    def on_c_get(
        self, assoc: Association, message: Message, cancelled: asyncio.Event,
        sub: SubOperations,
    ) -> AsyncIterator[QRResponse]:
        """C-GET (PS3.4 C.4.3): ``sub.store`` sends each instance back on this association."""
        return _unsupported()

    def on_association(self, assoc: Association, event: str, detail: str = "") -> None:
        """Observer for ``accepted``, ``rejected``, ``released``, ``aborted`` events."""


async def _unsupported() -> AsyncIterator[QRResponse]:
    yield QRResponse(S.SOP_CLASS_NOT_SUPPORTED)


def printable(title: str) -> str:
    """A peer's AE title for a log line: control characters (a forged newline) as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in title)


def _status_fields(result: StatusResult) -> dict[str, object]:
    if isinstance(result, tuple):
        return {"Status": result[0], "ErrorComment": result[1][:64] or None}
    return {"Status": result}


class DicomServer:
    """Accepts associations for one :class:`ServiceProvider`.

    Parameters
    ----------
    provider : ServiceProvider
        Decides acceptance and answers requests.
    max_associations : int
        Concurrent associations; one more is rejected with A-ASSOCIATE-RJ
        (transient, service-provider presentation, "local limit exceeded").
    ssl : ssl.SSLContext, optional
        DICOM TLS (PS3.15 B.1) when given: each connection is accepted as plain TCP and
        upgraded by the connection's own task, so the handshake falls under the ARTIM
        deadline and the pending caps like the A-ASSOCIATE-RQ that follows it. A failed
        handshake is closed and logged as one line, ``TLS handshake with HOST:PORT
        failed: REASON``: a warning for a refusal (no or untrusted client certificate,
        TLS older than the context allows, plain DICOM), info when the peer only closed.
    max_pending, max_pending_per_source : int
        Connections that have not finished associating, in all and per source address.
        Past either cap the *oldest* such connection is closed, so idle or drip-feeding
        connections cannot crowd out a peer that associates promptly.
    """

    def __init__(
        self, provider: ServiceProvider, *, max_associations: int = 50,
        ssl: _ssl.SSLContext | None = None, max_pending: int = 64,
        max_pending_per_source: int = 16,
    ) -> None:
        self.provider = provider
        self.local = provider.local
        self.max_associations = max_associations
        self.max_pending = max_pending
        self.max_pending_per_source = max_pending_per_source
        self.ssl = ssl
        self.active: set[asyncio.Task[None]] = set()
        self._pending: dict[asyncio.Task[None], str] = {}  # insertion order = age
        self._associated = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        """Bind and start accepting; raises ``OSError`` when the port is taken."""
        self._server = await asyncio.start_server(
            self._on_connection, host, port, limit=2 * self.local.limits.max_pdu_length + 65536,
            reuse_address=True,
        )

    @property
    def serving(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None and self._server.is_serving()

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and abort the associations still running."""
        if self._server is not None:
            self._server.close()
        for task in list(self.active):
            task.cancel()
        if self.active:
            await asyncio.gather(*self.active, return_exceptions=True)
        if self._server is not None:
            try:
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            except TimeoutError:
                pass

    async def __aenter__(self) -> DicomServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self._connection(reader, writer)
        except asyncio.CancelledError:
            # Closed by close() or evicted by _admit. The task is the connection's own and
            # nobody awaits its cancellation; ending it normally keeps asyncio's
            # start_server callback from logging a traceback (on Python 3.11 it calls
            # task.exception(), which raises for a cancelled task).
            pass

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.active.add(task)
        assoc = Association(reader, writer, local=self.local, is_requestor=False)
        self._admit(task, assoc.peer_address[0])
        try:
            await self._run(assoc)
        except NetworkError as exc:
            log.info("association with %s:%s ended: %s", *assoc.peer_address, exc)
            self.provider.on_association(assoc, "aborted", str(exc))
        except asyncio.CancelledError:
            await assoc.abort()
            raise
        except Exception:
            log.exception("association with %s:%s failed", *assoc.peer_address)
            await assoc.abort()
        finally:
            self.active.discard(task)
            self._pending.pop(task, None)
            await assoc.close()

    def _admit(self, task: asyncio.Task[None], host: str) -> None:
        """Track a connection until it associates; close the oldest beyond the caps."""
        self._pending[task] = host
        same_source = [t for t, h in self._pending.items() if h == host]
        victim: asyncio.Task[None] | None = None
        if len(same_source) > self.max_pending_per_source:
            victim = same_source[0]
        elif len(self._pending) > self.max_pending:
            victim = next(iter(self._pending))
        if victim is not None and victim is not task:
            self._pending.pop(victim, None)
            log.warning("too many connections from %s that have not associated; closing the oldest",
                        host if victim in same_source else "all sources")
            victim.cancel()

    async def _run(self, assoc: Association) -> None:
        limits = self.local.limits
        assoc.fsm.state = "Sta2"
        handshaking = self.ssl is not None
        try:
            # ARTIM (PS3.8 9.1.5) as an absolute deadline for the TLS handshake and the
            # whole A-ASSOCIATE-RQ, so neither drip-fed bytes nor a handshake that never
            # finishes can keep the connection open
            async with asyncio.timeout(limits.acse_timeout):
                if self.ssl is not None:
                    await start_tls(assoc.writer, self.ssl, server_side=True,
                                    timeout=limits.acse_timeout + 1)
                    handshaking = False
                    log.info("TLS with %s:%s: %s", *assoc.peer_address, peer_summary(assoc.writer))
                pdu_type, body = await assoc.read_pdu(limits.acse_timeout)
        except TLSError as exc:
            # a refusal is worth a warning; a peer that only closed (a port probe) is not
            level = logging.INFO if peer_closed(exc) else logging.WARNING
            log.log(level, "TLS handshake with %s:%s failed: %s", *assoc.peer_address, exc)
            assoc.discard()
            return
        except asyncio.CancelledError:
            if handshaking:
                assoc.discard()  # an A-ABORT in clear text would corrupt the TLS stream
            raise
        except (NetworkTimeout, TimeoutError):
            if handshaking:
                log.info("no TLS handshake from %s:%s within the ARTIM timeout",
                         *assoc.peer_address)
                assoc.discard()
            else:
                log.info("no A-ASSOCIATE-RQ from %s:%s within the ARTIM timeout",
                         *assoc.peer_address)
            return
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._pending.pop(task, None)
        rq = P.AssociateRQ.decode(body)
        assoc.rq = rq
        rejection = check_request(rq) or await self.provider.check_association(
            rq, assoc.peer_address)
        if rejection is None and self._associated >= self.max_associations:
            rejection = P.AssociateRJ(P.RJ_TRANSIENT, P.RJ_SOURCE_PRESENTATION, 2)
        if rejection is not None:
            rj, why = rejection if isinstance(rejection, tuple) else (rejection, "")
            log.warning("rejected association from %s@%s:%s: %s%s",
                        printable(rq.calling_ae_title), *assoc.peer_address, rj.describe(),
                        f"; {why}" if why else "")
            await assoc.send_pdu(rj.encode(), "Evt8")
            self.provider.on_association(assoc, "rejected", rj.describe())
            return
        ac, contexts = answer_request(
            rq, self.local, self.provider.supported, scp_role_for=self.provider.scp_role_for
        )
        assoc.ac = ac
        assoc.contexts = contexts
        assoc.peer_max_pdu = rq.user_information.max_length
        await assoc.send_pdu(ac.encode(), "Evt7")
        self._associated += 1
        self.provider.on_association(assoc, "accepted")
        log.info("association from %s@%s:%s accepted (%d contexts)", rq.calling_ae_title,
                 *assoc.peer_address, len(contexts))
        try:
            await self._serve(assoc)
        finally:
            self._associated -= 1

    async def _serve(self, assoc: Association) -> None:
        pump = MessagePump(assoc, self.provider.open_dataset_sink, self.local.limits.network_timeout)
        pump.start()
        try:
            while True:
                message = await pump.next_request()
                if message is None:
                    await assoc.answer_release()
                    self.provider.on_association(assoc, "released")
                    return
                await self._dispatch(assoc, message, pump)
        finally:
            await pump.stop()

    async def _dispatch(self, assoc: Association, message: Message, pump: MessagePump) -> None:
        rq = message.command
        field = rq.CommandField
        try:
            if field == C_ECHO_RQ:
                result = await self.provider.on_c_echo(assoc, message)
                await self._respond(assoc, message, C_ECHO_RSP, result)
            elif field == C_STORE_RQ:
                result = await self._guarded(self.provider.on_c_store, assoc, message)
                await self._respond(
                    assoc, message, C_STORE_RSP, result,
                    AffectedSOPInstanceUID=rq.AffectedSOPInstanceUID,
                )
            elif field in (C_FIND_RQ, C_MOVE_RQ, C_GET_RQ):
                await self._operation(assoc, message, pump)
            elif rq.is_response:
                log.warning("ignoring unexpected %s from %s", rq.name, assoc.peer_ae_title)
            else:
                await self._respond(assoc, message, field | 0x8000, S.UNRECOGNIZED_OPERATION)
        finally:
            if message.sink is not None and message.sink_error is not None:
                message.sink.abort()

    async def _operation(self, assoc: Association, message: Message, pump: MessagePump) -> None:
        """Run a C-FIND/C-MOVE/C-GET: stream pending responses, honour C-CANCEL, send the final."""
        rq = message.command
        field = rq.CommandField
        cancelled = asyncio.Event()
        message_id = rq.MessageID or 0
        pump.cancels[message_id] = cancelled
        if field == C_FIND_RQ:
            responses = self.provider.on_c_find(assoc, message, cancelled)
        elif field == C_MOVE_RQ:
            responses = self.provider.on_c_move(assoc, message, cancelled)
        else:
            responses = self.provider.on_c_get(assoc, message, cancelled, SubOperations(assoc, pump))
        final: QRResponse | None = None
        last: QRResponse | None = None
        try:
            async for response in responses:
                if cancelled.is_set():
                    break
                if response.pending:
                    last = response
                    await self._send_qr(assoc, message, response)
                else:
                    final = response
                    break
        except NetworkError:
            raise
        except Exception as exc:
            log.exception("%s handler failed", rq.name)
            final = QRResponse(S.UNABLE_TO_PROCESS, error_comment=f"pacslink: {type(exc).__name__}")
        finally:
            pump.cancels.pop(message_id, None)
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                await aclose()
        if cancelled.is_set() and (final is None or final.pending):
            counters = last.counters() if last is not None else {}
            final = QRResponse(
                S.CANCEL, remaining=counters.get("NumberOfRemainingSuboperations"),
                completed=counters.get("NumberOfCompletedSuboperations"),
                failed=counters.get("NumberOfFailedSuboperations"),
                warning=counters.get("NumberOfWarningSuboperations"),
            )
        await self._send_qr(assoc, message, final or QRResponse(S.SUCCESS))

    async def _send_qr(self, assoc: Association, message: Message, response: QRResponse) -> None:
        rq = message.command
        fields: dict[str, object] = {}
        if rq.CommandField != C_FIND_RQ:
            fields = {k: v for k, v in response.counters().items() if v is not None}
            if not response.pending and response.status != S.CANCEL:
                # PS3.7 9.3.3.2/9.3.4.2: only pending and Cancel carry the remaining count
                fields.pop("NumberOfRemainingSuboperations", None)
        rsp = Command(
            CommandField=rq.CommandField | 0x8000,
            MessageIDBeingRespondedTo=rq.MessageID,
            AffectedSOPClassUID=rq.AffectedSOPClassUID,
            Status=response.status,
            ErrorComment=response.error_comment[:64] if response.error_comment else None,
            **fields,  # type: ignore[arg-type]
        )
        await assoc.send_message(message.context.context_id, rsp, response.identifier)

    async def _guarded(
        self, handler: Callable[[Association, Message], Awaitable[StatusResult]],
        assoc: Association, message: Message,
    ) -> StatusResult:
        try:
            return await handler(assoc, message)
        except Exception as exc:
            log.exception("%s handler failed", message.command.name)
            return (S.PROCESSING_FAILURE, f"pacslink internal error: {type(exc).__name__}")

    async def _respond(
        self, assoc: Association, message: Message, field: int, result: StatusResult, **extra: object
    ) -> None:
        rq = message.command
        rsp = Command(
            CommandField=field,
            MessageIDBeingRespondedTo=rq.MessageID,
            AffectedSOPClassUID=rq.AffectedSOPClassUID,
            **_status_fields(result),  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )
        await assoc.send_message(message.context.context_id, rsp)
