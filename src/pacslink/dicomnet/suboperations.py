"""C-STORE sub-operations of a C-GET, sent back on the requestor's own association (PS3.4 C.4.3).

The requestor proposed storage contexts with the SCP role for itself (SCP/SCU Role
Selection, PS3.7 D.3.3.4); :class:`SubOperations` finds such a context and sends a
C-STORE-RQ on it, waiting for the C-STORE-RSP that the server's message pump routes back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pacslink.dicomnet.association import AcceptedContext, Association, FileDataset
from pacslink.dicomnet.commands import C_STORE_RQ, PRIORITY_MEDIUM, Command
from pacslink.dicomnet.errors import AssociationAborted, NetworkTimeout

if TYPE_CHECKING:
    from pacslink.dicomnet.pump import MessagePump


class SubOperations:
    """Sends the instances of a C-GET to the requestor."""

    def __init__(self, assoc: Association, pump: MessagePump) -> None:
        self.assoc = assoc
        self.pump = pump

    def contexts_for(self, sop_class_uid: str) -> list[AcceptedContext]:
        """Accepted contexts for ``sop_class_uid`` on which the requestor is SCP."""
        return [c for c in self.assoc.contexts.values()
                if c.abstract_syntax == sop_class_uid and c.scp_role]

    async def store(
        self,
        context: AcceptedContext,
        sop_instance_uid: str,
        dataset: bytes | FileDataset,
        *,
        priority: int = PRIORITY_MEDIUM,
    ) -> Command:
        """Send one C-STORE-RQ and return the requestor's C-STORE-RSP command."""
        rq = Command(
            CommandField=C_STORE_RQ, MessageID=self.assoc.next_message_id(),
            AffectedSOPClassUID=context.abstract_syntax, AffectedSOPInstanceUID=sop_instance_uid,
            Priority=priority,
        )
        future = self.pump.expect(rq.MessageID or 0)
        await self.assoc.send_message(context.context_id, rq, dataset)
        timeout = self.assoc.limits.dimse_timeout
        try:
            async with asyncio.timeout(timeout):
                response = await future
        except TimeoutError as exc:
            self.pump.responses.pop(rq.MessageID or 0, None)
            raise NetworkTimeout(f"no C-STORE-RSP from the C-GET requestor within {timeout:g} s") from exc
        if response is None:  # pragma: no cover - defensive
            raise AssociationAborted("the association ended during a C-GET sub-operation")
        return response.command
