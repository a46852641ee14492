"""A Query/Retrieve SCP over pacslink's own store: the sample PACS (PS3.4 Annex C).

Verification and Storage come from :class:`~pacslink.services.scp.StorageSCP`; this adds
Patient Root and Study Root FIND, MOVE and GET. Matching and locating instances are
injected (the store does them), as is the table of move destinations, so this module
knows nothing of SQL. :class:`Quirks` switch on the misbehaviour of PACS met in the
field, for tests: slow answers, Success with every sub-operation failed, no final
response, abort on C-CANCEL, no range/wildcard matching on dates, unsolicited C-STOREs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, cast

from pydicom import Dataset
from pydicom.filereader import read_dataset

from pacslink.conformance import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    PATIENT_ROOT_QR_FIND,
    PATIENT_ROOT_QR_GET,
    PATIENT_ROOT_QR_MOVE,
    QR_SOP_CLASSES,
    STORAGE_SOP_CLASS_UIDS,
)
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AEConfig, Association, Message
from pacslink.dicomnet.qr import QRResponse
from pacslink.dicomnet.suboperations import SubOperations
from pacslink.errors import QueryError, StoreError
from pacslink.identifiers import decode_identifier, encode_identifier
from pacslink.models import QueryLevel, QueryModel, RemoteAE
from pacslink.services.access import CallerPolicy
from pacslink.services.part10 import NotPart10Error, Part10Info, read_part10_info
from pacslink.services.scp import OpenInstance, StorageSCP, StoredEvent
from pacslink.services.scu import FileOutcome, outcome_of, prepare, send_files
from pacslink.services.tls import ClientTLS

log = logging.getLogger(__name__)
QR_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN)
_PATIENT_ROOT = frozenset({PATIENT_ROOT_QR_FIND, PATIENT_ROOT_QR_MOVE, PATIENT_ROOT_QR_GET})
_ENCODINGS = {IMPLICIT_VR_LITTLE_ENDIAN: (True, True), EXPLICIT_VR_LITTLE_ENDIAN: (False, True),
              EXPLICIT_VR_BIG_ENDIAN: (False, False)}


@dataclass(frozen=True)
class Quirks:
    """Vendor misbehaviour to reproduce in tests (all off by default)."""

    delay: float = 0.0
    success_all_failed: bool = False
    no_final: bool = False
    abort_on_cancel: bool = False
    no_date_ranges: bool = False
    unsolicited: int = 0
    hang_seconds: float = 60.0


@dataclass(frozen=True)
class LocatedInstance:
    """A stored instance a C-MOVE or C-GET sends: its file on disk."""

    sop_instance_uid: str
    path: Path


FindFunction = Callable[[QueryLevel, QueryModel, Dataset], list[Dataset]]
LocateFunction = Callable[[QueryLevel, QueryModel, Dataset], list[LocatedInstance]]
DestinationLookup = Callable[[str], RemoteAE | None]


@dataclass
class _Counters:
    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)

    def add(self, outcome: FileOutcome) -> None:
        self.remaining -= 1
        if outcome.category == "Success":
            self.completed += 1
        elif outcome.category == "Warning":
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(outcome.sop_instance_uid)

    def response(self, status: int) -> QRResponse:
        identifier = None
        if status != S.PENDING and self.failed_uids:
            ds = Dataset()
            ds.FailedSOPInstanceUIDList = self.failed_uids  # PS3.4 C.4.2.1.4.2
            identifier = encode_identifier(ds, IMPLICIT_VR_LITTLE_ENDIAN)
        return QRResponse(status, identifier, self.remaining if status in (S.PENDING, S.CANCEL) else None,
                          self.completed, self.failed, self.warning)

    def final_status(self) -> int:
        if self.failed or self.warning:
            return S.SUBOPERATIONS_COMPLETE_WITH_FAILURES if self.completed or self.warning else 0xA702
        return S.SUCCESS


class QueryRetrieveSCP(StorageSCP):
    """Verification, Storage and Q/R (FIND, MOVE, GET; Patient and Study Root) SCP.

    C-MOVE sub-operations go to destinations marked ``tls = true`` over DICOM TLS with
    the client context of ``tls``.
    """

    def __init__(
        self,
        local: AEConfig,
        open_instance: OpenInstance,
        *,
        find: FindFunction,
        locate: LocateFunction,
        destinations: DestinationLookup,
        quirks: Quirks | None = None,
        on_stored: Callable[[StoredEvent], None] | None = None,
        callers: CallerPolicy | None = None,
        tls: ClientTLS | None = None,
    ) -> None:
        super().__init__(local, open_instance, on_stored, callers=callers)
        self.tls = tls  # C-MOVE destinations marked tls = true
        self.find = find
        self.locate = locate
        self.destinations = destinations
        self.quirks = quirks or Quirks()
        supported = dict(self.supported)
        for _, uid in QR_SOP_CLASSES:
            supported[uid] = QR_SYNTAXES
        self.supported = supported
        self.scp_role_for = STORAGE_SOP_CLASS_UIDS

    # --- helpers ----------------------------------------------------------------------

    def _request(self, message: Message) -> tuple[QueryLevel, QueryModel, Dataset]:
        """Decode the identifier (tolerantly, per its character set) for matching.

        Raises
        ------
        QueryError
            Not a data set, or no valid Query/Retrieve Level (answered 0xA900).
        """
        match = decode_identifier(message.dataset or b"", message.context.transfer_syntax,
                                  QueryLevel.STUDY)
        text = match.get("QueryRetrieveLevel").strip().upper()
        try:
            level = QueryLevel(text)
        except ValueError as exc:
            raise QueryError(f"Query/Retrieve Level {text!r} is not PATIENT, STUDY, SERIES or IMAGE") from exc
        implicit, little = _ENCODINGS.get(message.context.transfer_syntax, (False, True))
        try:  # the store matches on the raw elements, decoding them per their character set
            ds = read_dataset(cast(BinaryIO, BytesIO(message.dataset or b"")), implicit, little)
        except Exception as exc:  # noqa: BLE001 - decode_identifier accepted it; be safe
            raise QueryError(f"identifier cannot be read: {type(exc).__name__}") from exc
        model = (QueryModel.PATIENT_ROOT if message.context.abstract_syntax in _PATIENT_ROOT
                 else QueryModel.STUDY_ROOT)
        return level, model, ds

    async def _files(self, instances: Sequence[LocatedInstance]) -> list[Part10Info]:
        def read() -> list[Part10Info]:
            infos = []
            for inst in instances:
                try:
                    infos.append(read_part10_info(inst.path))
                except (NotPart10Error, OSError) as exc:
                    log.warning("cannot send stored instance %s: %s", inst.sop_instance_uid, exc)
            return infos

        return await asyncio.to_thread(read)

    async def _locate(self, message: Message) -> list[LocatedInstance] | QRResponse:
        """The instances a C-MOVE/C-GET asks for, or the final response refusing it."""
        try:
            level, model, identifier = self._request(message)
            instances = await asyncio.to_thread(self.locate, level, model, identifier)
        except (QueryError, ValueError) as exc:
            return QRResponse(S.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, error_comment=str(exc)[:64])
        except StoreError as exc:
            return QRResponse(S.UNABLE_TO_PROCESS, error_comment=str(exc)[:64])
        if self.quirks.success_all_failed:
            return QRResponse(S.SUCCESS, completed=0, failed=len(instances), warning=0)
        return instances

    # --- C-FIND -----------------------------------------------------------------------

    async def on_c_find(
        self, assoc: Association, message: Message, cancelled: asyncio.Event
    ) -> AsyncIterator[QRResponse]:
        try:
            level, model, identifier = self._request(message)
        except QueryError as exc:
            yield QRResponse(S.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, error_comment=str(exc))
            return
        if self.quirks.no_date_ranges and any(
            ch in str(identifier.get(k, "")) for k in ("StudyDate", "SeriesDate") for ch in "-*?"
        ):
            matches: list[Dataset] = []  # the quirk: ranges and wildcards match literally
        else:
            try:
                matches = await asyncio.to_thread(self.find, level, model, identifier)
            except (QueryError, ValueError) as exc:
                yield QRResponse(S.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, error_comment=str(exc)[:64])
                return
            except StoreError as exc:
                yield QRResponse(S.UNABLE_TO_PROCESS, error_comment=str(exc)[:64])
                return
        ts = message.context.transfer_syntax
        for ds in matches:
            if self.quirks.delay:
                await asyncio.sleep(self.quirks.delay)
            if cancelled.is_set():
                if self.quirks.abort_on_cancel:
                    await assoc.abort()
                return
            yield QRResponse(S.PENDING, encode_identifier(ds, ts))
        if self.quirks.no_final:
            await asyncio.sleep(self.quirks.hang_seconds)

    # --- C-MOVE -----------------------------------------------------------------------

    async def on_c_move(
        self, assoc: Association, message: Message, cancelled: asyncio.Event
    ) -> AsyncIterator[QRResponse]:
        destination = self.destinations((message.command.MoveDestination or "").strip())
        if destination is None:
            yield QRResponse(S.MOVE_DESTINATION_UNKNOWN, error_comment=(
                f"move destination {message.command.MoveDestination!r} is not in this AE's table"))
            return
        located = await self._locate(message)
        if isinstance(located, QRResponse):
            yield located
            return
        instances = located
        files = await self._files(instances)
        if self.quirks.unsolicited:
            files += await self._files(await asyncio.to_thread(self._extra, instances))
        counters = _Counters(len(files))
        queue: asyncio.Queue[FileOutcome | None] = asyncio.Queue()
        originator = (assoc.peer_ae_title, message.command.MessageID or 0)
        task = asyncio.create_task(send_files(
            self.local, destination, files, queue.put_nowait, move_originator=originator,
            tls=self.tls))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (outcome := await queue.get()) is not None:
                counters.add(outcome)
                if cancelled.is_set():
                    break
                if counters.remaining:
                    yield counters.response(S.PENDING)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if cancelled.is_set():
            if self.quirks.abort_on_cancel:
                await assoc.abort()
            return
        if self.quirks.no_final:
            await asyncio.sleep(self.quirks.hang_seconds)
        yield counters.response(counters.final_status())

    def _extra(self, asked: Sequence[LocatedInstance]) -> list[LocatedInstance]:
        """Instances nobody asked for (the unsolicited quirk), from other studies."""
        wanted = {i.sop_instance_uid for i in asked}
        studies = Dataset()
        studies.QueryRetrieveLevel = "STUDY"
        studies.StudyInstanceUID = ""
        extra: list[LocatedInstance] = []
        for match in self.find(QueryLevel.STUDY, QueryModel.STUDY_ROOT, studies):
            one = Dataset()
            one.QueryRetrieveLevel = "STUDY"
            one.StudyInstanceUID = match.StudyInstanceUID
            extra += [i for i in self.locate(QueryLevel.STUDY, QueryModel.STUDY_ROOT, one)
                      if i.sop_instance_uid not in wanted]
            if len(extra) >= self.quirks.unsolicited:
                break
        return extra[: self.quirks.unsolicited]

    # --- C-GET ------------------------------------------------------------------------

    async def on_c_get(
        self, assoc: Association, message: Message, cancelled: asyncio.Event, sub: SubOperations
    ) -> AsyncIterator[QRResponse]:
        located = await self._locate(message)
        if isinstance(located, QRResponse):
            yield located
            return
        instances = located
        files = await self._files(instances)
        counters = _Counters(len(files))
        for info in files:
            if cancelled.is_set():
                return
            prepared = await prepare(sub.contexts_for(info.sop_class_uid), info)
            if isinstance(prepared, FileOutcome):
                outcome = prepared
            else:
                ctx, dataset, converted = prepared
                rsp = await sub.store(ctx, info.sop_instance_uid, dataset)
                outcome = outcome_of(info, rsp, converted)
            counters.add(outcome)
            if counters.remaining:
                yield counters.response(S.PENDING)
        yield counters.response(counters.final_status())
