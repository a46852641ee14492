"""pacslink's Storage and Verification SCP on top of the network engine (PS3.4 Annex A, B).

The SCP knows nothing of files or SQL: it is given ``open_instance``, a callable that
returns an :class:`InstanceWriter` for each incoming C-STORE, and streams the data set
into it. The C-STORE response is sent only after ``commit_async()`` resolved, i.e. after
the instance is durably on disk and in the index. Exceptions from the writer become DIMSE
statuses (PS3.4 B.2.3): out of resources 0xA700, data set does not match 0xA900,
cannot understand 0xC000.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AcceptedContext, AEConfig, Association, Message
from pacslink.dicomnet.commands import Command
from pacslink.dicomnet.server import Rejection, ServiceProvider, StatusResult
from pacslink.errors import (
    DatasetMismatchError,
    DatasetParseError,
    StoreError,
    StoreFullError,
)
from pacslink.services.contexts import storage_scp_contexts

if TYPE_CHECKING:
    from pacslink.services.access import CallerPolicy

log = logging.getLogger(__name__)


class InstanceWriter(Protocol):
    """Receives one instance's data set bytes, then commits or aborts.

    ``write`` runs on the event loop; ``commit_async`` returns an awaitable that resolves
    once the instance is stored (the work happens off the loop) or raises why not.
    """

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit_async(self) -> Awaitable[object]: ...

    def abort(self) -> None: ...


class OpenInstance(Protocol):
    def __call__(
        self, *, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str,
        calling_ae: str,
    ) -> InstanceWriter: ...


@dataclass(frozen=True)
class StoredEvent:
    """What the SCP tells its observer after each C-STORE (no patient data)."""

    calling_ae: str
    peer_host: str
    sop_class_uid: str
    sop_instance_uid: str
    status: int
    detail: str
    result: object | None = None
    move_originator_ae: str | None = None
    move_originator_message_id: int | None = None


def status_for(exc: BaseException) -> tuple[int, str]:
    """Map a store exception to a C-STORE status and Error Comment (PS3.4 B.2.3).

    The Error Comment says why, not the status again: a peer (and ``pacslink listen``)
    shows it after the status, ``0xA700 Out of resources: only 150 MB free ...``.
    """
    if isinstance(exc, StoreFullError):
        return S.OUT_OF_RESOURCES, str(exc)
    if isinstance(exc, DatasetMismatchError):
        return S.DATASET_DOES_NOT_MATCH_SOP_CLASS, str(exc)
    if isinstance(exc, DatasetParseError):
        return S.CANNOT_UNDERSTAND, str(exc)
    if isinstance(exc, StoreError):
        return S.OUT_OF_RESOURCES, str(exc)
    return S.PROCESSING_FAILURE, f"pacslink internal error: {type(exc).__name__}"


class _Sink:
    """Adapts an :class:`InstanceWriter` to the engine's data set sink."""

    def __init__(self, writer: InstanceWriter) -> None:
        self.writer = writer

    def write(self, data: bytes | memoryview) -> None:
        self.writer.write(data)

    def abort(self) -> None:
        self.writer.abort()


class StorageSCP(ServiceProvider):
    """Verification + Storage SCP for the conformance statement's 65 storage SOP classes.

    Parameters
    ----------
    local : AEConfig
        Our AE title and limits.
    open_instance : callable
        Returns an :class:`InstanceWriter` for an incoming instance (the store's).
    on_stored : callable, optional
        Observer called after each C-STORE; its exceptions are logged and ignored.
    callers : CallerPolicy, optional
        Who may associate (:mod:`pacslink.services.access`); ``None`` accepts any
        calling AE title.
    """

    def __init__(
        self,
        local: AEConfig,
        open_instance: OpenInstance,
        on_stored: Callable[[StoredEvent], None] | None = None,
        *,
        callers: CallerPolicy | None = None,
    ) -> None:
        super().__init__(local)
        self.supported = storage_scp_contexts()
        self.open_instance = open_instance
        self.on_stored = on_stored
        self.callers = callers

    async def check_association(
        self, rq: P.AssociateRQ, peer: tuple[str, int]
    ) -> Rejection | None:
        """Our called AE title (reason 7), then the calling AE policy (reason 3)."""
        rejection = await super().check_association(rq, peer)
        if rejection is None and self.callers is not None:
            rejection = await self.callers.check(rq, peer)
        return rejection

    def open_dataset_sink(
        self, assoc: Association, context: AcceptedContext, command: Command
    ) -> _Sink | None:
        if command.CommandField != 0x0001:
            return None
        sop_class = command.AffectedSOPClassUID or ""
        if sop_class != context.abstract_syntax:
            raise DatasetMismatchError(
                f"C-STORE for {sop_class} on a presentation context for {context.abstract_syntax}"
            )
        writer = self.open_instance(
            sop_class_uid=sop_class,
            sop_instance_uid=command.AffectedSOPInstanceUID or "",
            transfer_syntax_uid=context.transfer_syntax,
            calling_ae=assoc.peer_ae_title,
        )
        return _Sink(writer)

    async def on_c_store(self, assoc: Association, message: Message) -> StatusResult:
        rq = message.command
        result: object | None = None
        if message.sink_error is not None:
            status, detail = status_for(message.sink_error)
        elif not isinstance(message.sink, _Sink):
            status, detail = S.CANNOT_UNDERSTAND, "no data set received"
        else:
            try:
                result = await message.sink.writer.commit_async()
            except Exception as exc:
                message.sink.writer.abort()
                status, detail = status_for(exc)
                if status == S.PROCESSING_FAILURE:
                    log.exception("storing %s failed", rq.AffectedSOPInstanceUID)
            else:
                status, detail = S.SUCCESS, ""
        if status != S.SUCCESS:
            # INFO, not WARNING: the observer (``pacslink listen``) reports each refusal
            # itself, and a default log line would repeat it.
            log.info("C-STORE of %s from %s failed: %s: %s", rq.AffectedSOPInstanceUID,
                     assoc.peer_ae_title, S.describe(status), detail)
        self._notify(StoredEvent(
            calling_ae=assoc.peer_ae_title, peer_host=assoc.peer_address[0],
            sop_class_uid=rq.AffectedSOPClassUID or "",
            sop_instance_uid=rq.AffectedSOPInstanceUID or "", status=status, detail=detail,
            result=result, move_originator_ae=rq.MoveOriginatorApplicationEntityTitle,
            move_originator_message_id=rq.MoveOriginatorMessageID,
        ))
        return (status, detail) if detail else status

    def _notify(self, event: StoredEvent) -> None:
        if self.on_stored is None:
            return
        try:
            self.on_stored(event)
        except Exception:  # an observer never breaks an association
            log.exception("C-STORE observer failed")
