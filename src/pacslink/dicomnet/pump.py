"""The acceptor's message pump: one task reads every message and routes it.

During a C-FIND, C-MOVE or C-GET the SCP is busy sending responses, yet it must notice
a C-CANCEL-RQ (PS3.7 9.3.2.3) and, for C-GET, receive the C-STORE-RSPs of its own
sub-operations on the same association (PS3.4 C.4.3). A single reader task does all the
reading: requests go to a queue for the dispatcher, C-CANCEL sets the matching
operation's event, and responses resolve the future their Message ID waits on. Having
exactly one reader means no partially read PDU is ever abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pacslink.dicomnet.association import Association, Message, SinkFactory
from pacslink.dicomnet.commands import C_CANCEL_RQ
from pacslink.dicomnet.errors import AssociationAborted, NetworkTimeout

log = logging.getLogger(__name__)


class MessagePump:
    """Reads messages of one association in the background and routes them.

    Parameters
    ----------
    assoc : Association
        An established association.
    sink_factory : callable, optional
        Where C-STORE data sets stream to (see :meth:`Association.receive_message`).
    idle_timeout : float
        Silence allowed while no operation is running; then the association is aborted.
    """

    def __init__(
        self, assoc: Association, sink_factory: SinkFactory | None, idle_timeout: float
    ) -> None:
        self.assoc = assoc
        self.sink_factory = sink_factory
        self.idle_timeout = idle_timeout
        self.requests: asyncio.Queue[Message | None | BaseException] = asyncio.Queue()
        self.cancels: dict[int, asyncio.Event] = {}
        self.responses: dict[int, asyncio.Future[Message]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pump {self.assoc.peer_address}")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def next_request(self) -> Message | None:
        """The next request; ``None`` once the peer asked to release. Re-raises reader errors."""
        item = await self.requests.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def expect(self, message_id: int) -> asyncio.Future[Message]:
        """A future resolved by the response to our request ``message_id``."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.responses[message_id] = future
        return future

    async def _run(self) -> None:
        try:
            while True:
                try:
                    message = await self.assoc.receive_message(
                        timeout=self.idle_timeout, sink_factory=self.sink_factory
                    )
                except NetworkTimeout:
                    if self.cancels or self.responses:
                        continue  # a long operation is running; silence is expected
                    await self.assoc.abort()
                    raise
                if message is None:
                    await self.requests.put(None)
                    return
                self._route(message)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            for future in self.responses.values():
                if not future.done():
                    future.set_exception(AssociationAborted(str(exc) or type(exc).__name__))
            await self.requests.put(exc)

    def _route(self, message: Message) -> None:
        command = message.command
        if command.CommandField == C_CANCEL_RQ:
            event = self.cancels.get(command.MessageIDBeingRespondedTo or -1)
            if event is not None:
                event.set()
            else:
                log.debug("C-CANCEL for message %s, which is not running",
                          command.MessageIDBeingRespondedTo)
        elif command.is_response:
            future = self.responses.pop(command.MessageIDBeingRespondedTo or -1, None)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log.warning("ignoring unexpected %s", command.name)
        else:
            self.requests.put_nowait(message)
