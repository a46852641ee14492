"""Query/Retrieve DIMSE-C as requestor: C-FIND, C-MOVE, C-GET and C-CANCEL (PS3.7 9.1.2-9.1.4, 9.3.2-9.3.4).

Each operation is an async iterator of :class:`QRResponse`: every pending response as it
arrives, then the final one. :meth:`QROperation.cancel` sends C-CANCEL-RQ; iteration goes
on until the peer's final response (normally status Cancel, 0xFE00).

>>> async def studies(assoc, ctx, identifier):                # doctest: +SKIP
...     async for rsp in c_find(assoc, ctx, identifier):
...         if rsp.pending:
...             yield rsp.identifier

C-GET brings the instances back on the same association (PS3.4 C.4.3): the peer sends
C-STORE-RQs on storage contexts where we were granted the SCP role; ``on_store`` is
awaited for each and its status is sent back in the C-STORE-RSP.
"""

from __future__ import annotations

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
    ) -> None:
        self.assoc = assoc
        self.context = context
        self.command = command
        self.identifier = identifier
        self.on_store = on_store
        self.sink_factory = sink_factory
        self.message_id = command.MessageID or 0
        self.cancelled = False
        self.final: QRResponse | None = None

    async def cancel(self) -> None:
        """Send C-CANCEL-RQ for this operation (PS3.7 9.3.2.3); idempotent."""
        if self.cancelled or self.final is not None:
            return
        self.cancelled = True
        await self.assoc.send_message(
            self.context.context_id,
            Command(CommandField=C_CANCEL_RQ, MessageIDBeingRespondedTo=self.message_id),
        )

    async def __aiter__(self) -> AsyncIterator[QRResponse]:
        assoc = self.assoc
        await assoc.send_message(self.context.context_id, self.command, self.identifier)
        expected = self.command.CommandField | 0x8000
        while True:
            try:
                message = await assoc.receive_message(
                    timeout=assoc.limits.dimse_timeout, sink_factory=self.sink_factory
                )
            except NetworkTimeout as exc:
                await assoc.abort()
                raise NetworkTimeout(
                    f"no {self.command.name.replace('-RQ', '-RSP')} within "
                    f"{assoc.limits.dimse_timeout:g} s"
                ) from exc
            if message is None:
                raise AssociationAborted("the peer released the association during the operation")
            cmd = message.command
            if cmd.CommandField == C_STORE_RQ:
                await self._answer_store(message)
                continue
            if cmd.CommandField != expected or cmd.MessageIDBeingRespondedTo != self.message_id:
                await assoc.abort()
                raise DIMSEError(f"expected {self.command.name} responses, got {cmd.name}")
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
    """Start a C-FIND (PS3.7 9.1.2); iterate the result for pending matches and the final."""
    command = Command(
        CommandField=C_FIND_RQ, MessageID=assoc.next_message_id(),
        AffectedSOPClassUID=context.abstract_syntax, Priority=priority,
    )
    return QROperation(assoc, context, command, identifier)


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
