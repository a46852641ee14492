"""pacslink as Verification and Storage SCU (PS3.4 Annex A and B, PS3.7 9.1.1, 9.1.5).

``send_files`` proposes only the contexts the files need (see :mod:`.contexts`), streams
each data set from disk when the peer accepted the file's own transfer syntax, and
otherwise converts it (decompressing with pydicom + pylibjpeg) to the uncompressed
syntax the peer accepted. A file counts as sent only when the peer's C-STORE-RSP says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AcceptedContext, AEConfig, Association, FileDataset
from pacslink.dicomnet.commands import Command
from pacslink.dicomnet.client import VERIFICATION_SOP_CLASS, c_echo, c_store
from pacslink.dicomnet.errors import NetworkError
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.models import RemoteAE
from pacslink.services.contexts import FALLBACK, plan_associations
from pacslink.services.part10 import Part10Info
from pacslink.services.rejection import advice
from pacslink.services.tls import ClientTLS, open_association

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EchoResult:
    """Outcome of one C-ECHO: ``status`` is ``None`` when no response came."""

    ae: RemoteAE
    status: int | None
    round_trip_ms: float | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == S.SUCCESS


async def echo(local: AEConfig, ae: RemoteAE, *, tls: ClientTLS | None = None) -> EchoResult:
    """Open an association with ``ae``, send one C-ECHO, release; never raises.

    ``tls`` gives the client context for an AE marked ``tls = true``.
    """
    start = time.perf_counter()
    contexts = build_contexts([(VERIFICATION_SOP_CLASS, ["1.2.840.10008.1.2"])])
    try:
        async with await open_association(local, ae, contexts, tls=tls) as assoc:
            status = await c_echo(assoc)
    except NetworkError as exc:
        return EchoResult(ae, None, None, advice(exc, local.ae_title, ae))
    return EchoResult(ae, status, (time.perf_counter() - start) * 1000.0)


async def echo_many(
    local: AEConfig, aes: Sequence[RemoteAE], *, tls: ClientTLS | None = None
) -> list[EchoResult]:
    """C-ECHO every AE at once; results in the order given."""
    return list(await asyncio.gather(*(echo(local, ae, tls=tls) for ae in aes)))


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file of a send."""

    path: str
    sop_instance_uid: str
    status: int | None
    category: str  # Success, Warning, Failure, Skipped
    detail: str = ""
    converted_to: str = ""


ProgressCallback = Callable[[FileOutcome], None]


def _choose(contexts: Iterable[AcceptedContext], info: Part10Info) -> AcceptedContext | None:
    usable = [c for c in contexts if c.abstract_syntax == info.sop_class_uid]
    for c in usable:
        if c.transfer_syntax == info.transfer_syntax_uid:
            return c
    for ts in FALLBACK:
        for c in usable:
            if c.transfer_syntax == ts:
                return c
    return None


async def prepare(
    contexts: Iterable[AcceptedContext], info: Part10Info
) -> tuple[AcceptedContext, bytes | FileDataset, str] | FileOutcome:
    """Pick a context for ``info`` and the data set to send on it (streamed or converted).

    Returns a failed :class:`FileOutcome` when no context fits or conversion fails.
    """
    ctx = _choose(contexts, info)
    if ctx is None:
        return FileOutcome(str(info.path), info.sop_instance_uid, None, "Failure",
                           f"the peer accepted no presentation context for SOP class {info.sop_class_uid}")
    if ctx.transfer_syntax == info.transfer_syntax_uid:
        return ctx, FileDataset(info.path, info.dataset_offset, info.dataset_length), ""
    from pacslink.services.transcode import encode_dataset_as  # pydicom: only when converting

    try:
        data = await asyncio.to_thread(encode_dataset_as, info.path, ctx.transfer_syntax)
    except Exception as exc:
        return FileOutcome(str(info.path), info.sop_instance_uid, None, "Failure",
                           f"cannot convert to {ctx.transfer_syntax} for this peer: {exc}")
    return ctx, data, ctx.transfer_syntax


def outcome_of(info: Part10Info, rsp: Command, converted: str = "") -> FileOutcome:
    """The :class:`FileOutcome` a C-STORE-RSP means."""
    status = rsp.Status if rsp.Status is not None else S.PROCESSING_FAILURE
    category = S.category(status)
    return FileOutcome(str(info.path), info.sop_instance_uid, status,
                       category if category in ("Success", "Warning") else "Failure",
                       rsp.ErrorComment or "", converted)


async def _send_one(
    assoc: Association, info: Part10Info, move_originator: tuple[str, int] | None = None
) -> FileOutcome:
    prepared = await prepare(assoc.contexts.values(), info)
    if isinstance(prepared, FileOutcome):
        return prepared
    ctx, dataset, converted = prepared
    rsp = await c_store(assoc, ctx, info.sop_class_uid, info.sop_instance_uid, dataset,
                        move_originator=move_originator)
    return outcome_of(info, rsp, converted)


async def send_files(
    local: AEConfig,
    ae: RemoteAE,
    files: Sequence[Part10Info],
    progress: ProgressCallback | None = None,
    *,
    move_originator: tuple[str, int] | None = None,
    tls: ClientTLS | None = None,
) -> list[FileOutcome]:
    """C-STORE ``files`` to ``ae``; one outcome per file, in sending order.

    ``move_originator`` (AE title, Message ID) marks the C-STOREs as sub-operations of
    that C-MOVE (PS3.7 9.1.1.1.8). ``tls`` gives the client context for an AE marked
    ``tls = true``.

    A network failure fails the files not yet acknowledged on that association (with
    the reason) and the next association is tried for the rest.
    """
    outcomes: list[FileOutcome] = []

    def report(outcome: FileOutcome) -> None:
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    for plan in plan_associations(files):
        contexts = build_contexts(plan.contexts)
        try:
            assoc = await open_association(local, ae, contexts, tls=tls)
        except NetworkError as exc:
            reason = advice(exc, local.ae_title, ae)
            for info in plan.files:
                report(FileOutcome(str(info.path), info.sop_instance_uid, None, "Failure", reason))
            continue
        pending = list(plan.files)
        try:
            while pending:
                outcome = await _send_one(assoc, pending[0], move_originator)
                pending.pop(0)
                report(outcome)
        except NetworkError as exc:
            for info in pending:
                report(FileOutcome(str(info.path), info.sop_instance_uid, None, "Failure",
                                   f"not acknowledged: {exc}"))
            await assoc.abort()
            continue
        except BaseException:
            await assoc.abort()
            raise
        await assoc.release()
    return outcomes
