"""Query/Retrieve DIMSE-C as requestor: C-FIND, C-MOVE, C-GET and C-CANCEL (PS3.7 9.1.2-9.1.4, 9.3.2-9.3.4).

Each operation is an async iterator of :class:`QRResponse`: every pending response as it
arrives, then the final one. :meth:`QROperation.cancel` sends C-CANCEL-RQ; iteration goes
on until the peer's final response (normally status Cancel, 0xFE00).

A peer is not trusted to behave. Each response must come within the DIMSE timeout; after
C-CANCEL the final response must come within one DIMSE timeout *in all*, however many
pending responses the peer keeps sending (PS3.7 9.3.2.3 lets it send some that were
under way), else the association is aborted and :class:`NetworkTimeout` raised. A C-FIND
identifier larger than :attr:`Limits.max_identifier_length` aborts the association
(:class:`DatasetTooLarge`) before more of it is read. A response to another Message ID,
or of another command, aborts it too (:class:`DIMSEError`).

>>> async def studies(assoc, ctx, identifier):                # doctest: +SKIP
...     async for rsp in c_find(assoc, ctx, identifier):
...         if rsp.pending:
...             yield rsp.identifier

C-GET brings the instances back on the same association (PS3.4 C.4.3): the peer sends
C-STORE-RQs on storage contexts where we were granted the SCP role; ``on_store`` is
awaited for each and its status is sent back in the C-STORE-RSP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AcceptedContext, Association, Message, SinkFactory
from pacslink.dicomnet.commands import (
    C_CANCEL_RQ,
    C_FIND_RQ,
    C_GET_RQ,
    C_MOVE_RQ,
    C_STORE_RQ,
    C_STORE_RSP,
    PRIORITY_MEDIUM,
    Command,
)
from pacslink.dicomnet.errors import AssociationAborted, DIMSEError, NetworkTimeout


@dataclass(frozen=True)
class QRResponse:
    """One C-FIND/C-MOVE/C-GET response (PS3.7 Tables 9.1-2, 9.1-3, 9.1-4)."""

    status: int
    identifier: bytes | None = None
    remaining: int | None = None
    completed: int | None = None
    failed: int | None = None
    warning: int | None = None
    error_comment: str | None = None

    @property
    def pending(self) -> bool:
        return S.is_pending(self.status)

    @classmethod
    def from_message(cls, message: Message) -> QRResponse:
        c = message.command
        return cls(
            status=c.Status if c.Status is not None else S.PROCESSING_FAILURE,
            identifier=message.dataset,
            remaining=c.NumberOfRemainingSuboperations,
            completed=c.NumberOfCompletedSuboperations,
            failed=c.NumberOfFailedSuboperations,
            warning=c.NumberOfWarningSuboperations,
            error_comment=c.ErrorComment,
        )

    def counters(self) -> dict[str, int | None]:
        """The sub-operation counters, for response commands."""
        return {
            "NumberOfRemainingSuboperations": self.remaining,
            "NumberOfCompletedSuboperations": self.completed,
            "NumberOfFailedSuboperations": self.failed,
            "NumberOfWarningSuboperations": self.warning,
        }


StoreHandler = Callable[[Message], Awaitable[int | tuple[int, str]]]


class QROperation:
    """A running C-FIND, C-MOVE or C-GET; iterate it for the responses."""

    def __init__(
        self,
        assoc: Association,
        context: AcceptedContext,
        command: Command,
        identifier: bytes,
        *,
        on_store: StoreHandler | None = None,
        sink_factory: SinkFactory | None = None,
        max_identifier: int | None = None,
    ) -> None:
        self.assoc = assoc
        self.context = context
        self.command = command
        self.identifier = identifier
        self.on_store = on_store
        self.sink_factory = sink_factory
        self.max_identifier = max_identifier
        self.message_id = command.MessageID or 0
        self.cancelled = False
        self.final: QRResponse | None = None
        self._cancel_deadline: float | None = None

    async def cancel(self) -> None:
        """Send C-CANCEL-RQ for this operation (PS3.7 9.3.2.3); idempotent."""
        if self.cancelled or self.final is not None:
            return
        self.cancelled = True
        loop = asyncio.get_running_loop()
        self._cancel_deadline = loop.time() + self.assoc.limits.dimse_timeout
        await self.assoc.send_message(
            self.context.context_id,
            Command(CommandField=C_CANCEL_RQ, MessageIDBeingRespondedTo=self.message_id),
        )

    async def __aiter__(self) -> AsyncIterator[QRResponse]:
        assoc = self.assoc
        await assoc.send_message(self.context.context_id, self.command, self.identifier)
        expected = self.command.CommandField | 0x8000
        rsp_name = self.command.name.replace("-RQ", "-RSP")
        loop = asyncio.get_running_loop()
        while True:
            wait = assoc.limits.dimse_timeout
            if self._cancel_deadline is not None:
                wait = max(0.0, self._cancel_deadline - loop.time())
            try:
                message = await assoc.receive_message(
                    timeout=wait, sink_factory=self.sink_factory, max_dataset=self.max_identifier
                )
            except NetworkTimeout as exc:
                await assoc.abort()
                if self._cancel_deadline is not None:
                    raise NetworkTimeout(
                        f"no final {rsp_name} within {assoc.limits.dimse_timeout:g} s of C-CANCEL"
                    ) from exc
                raise NetworkTimeout(f"no {rsp_name} within {assoc.limits.dimse_timeout:g} s") from exc
            if message is None:
                raise AssociationAborted("the peer released the association during the operation")
            cmd = message.command
            if cmd.CommandField == C_STORE_RQ:
                await self._answer_store(message)
                continue
            if cmd.CommandField != expected:
                await assoc.abort()
                raise DIMSEError(f"expected {rsp_name} responses, got {cmd.name}")
            if cmd.MessageIDBeingRespondedTo != self.message_id:
                await assoc.abort()
                raise DIMSEError(f"{rsp_name} for message {cmd.MessageIDBeingRespondedTo}, "
                                 f"but the request was message {self.message_id}")
            if self._cancel_deadline is not None and loop.time() > self._cancel_deadline:
                await assoc.abort()
                raise NetworkTimeout(
                    f"no final {rsp_name} within {assoc.limits.dimse_timeout:g} s of C-CANCEL")
            response = QRResponse.from_message(message)
            if not response.pending:
                self.final = response
            yield response
            if self.final is not None:
                return

    async def _answer_store(self, message: Message) -> None:
        rq = message.command
        if self.on_store is None or rq.CommandField != C_STORE_RQ:
            result: int | tuple[int, str] = S.UNRECOGNIZED_OPERATION
        else:
            result = await self.on_store(message)
        status, comment = (result, None) if isinstance(result, int) else result
        await self.assoc.send_message(message.context.context_id, Command(
            CommandField=C_STORE_RSP, MessageIDBeingRespondedTo=rq.MessageID,
            AffectedSOPClassUID=rq.AffectedSOPClassUID,
            AffectedSOPInstanceUID=rq.AffectedSOPInstanceUID, Status=status,
            ErrorComment=comment[:64] if comment else None,
        ))


def c_find(
    assoc: Association, context: AcceptedContext, identifier: bytes, *, priority: int = PRIORITY_MEDIUM
) -> QROperation:
    """Start a C-FIND (PS3.7 9.1.2); iterate the result for pending matches and the final.

    Each match is capped at :attr:`Limits.max_identifier_length` bytes.
    """
    command = Command(
        CommandField=C_FIND_RQ, MessageID=assoc.next_message_id(),
        AffectedSOPClassUID=context.abstract_syntax, Priority=priority,
    )
    return QROperation(assoc, context, command, identifier,
                       max_identifier=assoc.limits.max_identifier_length)


def c_move(
    assoc: Association, context: AcceptedContext, move_destination: str, identifier: bytes,
    *, priority: int = PRIORITY_MEDIUM, message_id: int | None = None,
) -> QROperation:
    """Start a C-MOVE to ``move_destination`` (an AE title known to the peer), PS3.7 9.1.4.

    ``message_id`` lets the caller pick the Message ID, which the peer echoes as Move
    Originator Message ID in every C-STORE sub-operation (PS3.7 9.1.1.1.8): with IDs
    unique across associations, parallel retrieves into one SCP can be told apart.
    """
    command = Command(
        CommandField=C_MOVE_RQ, MessageID=message_id or assoc.next_message_id(),
        AffectedSOPClassUID=context.abstract_syntax, Priority=priority,
        MoveDestination=move_destination,
    )
    return QROperation(assoc, context, command, identifier)


def c_get(
    assoc: Association, context: AcceptedContext, identifier: bytes, *,
    on_store: StoreHandler, sink_factory: SinkFactory | None = None,
    priority: int = PRIORITY_MEDIUM,
) -> QROperation:
    """Start a C-GET (PS3.7 9.1.3); ``on_store`` handles the C-STORE sub-operations."""
    command = Command(
        CommandField=C_GET_RQ, MessageID=assoc.next_message_id(),
        AffectedSOPClassUID=context.abstract_syntax, Priority=priority,
    )
    return QROperation(assoc, context, command, identifier, on_store=on_store,
                       sink_factory=sink_factory)
