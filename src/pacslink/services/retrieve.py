"""Retrieve with proof of completeness: C-MOVE to our own Storage SCP, or C-GET (PS3.4 C.4.2, C.4.3).

1. List what should arrive with image-level C-FINDs (series by series).
2. C-MOVE to our AE title (our SCP receives the sub-operations) or C-GET (the
   instances come back on the same association). ``auto`` tries C-MOVE and falls back
   to C-GET on "Move Destination unknown" (0xA801) or when nothing arrives in time.
3. Compare the expected SOP Instance UIDs with what is in the store afterwards, so a
   PACS that answers Success with every sub-operation failed is caught. ``retries``
   re-requests only the missing instances.

The PACS's sub-operation counters are shown, never trusted: each operation's responses
go through a :class:`~pacslink.services.counters.CounterCheck`, counters are clamped to
what was asked for, and inconsistencies become a note ("the PACS reported inconsistent
counters ..."). When the expected instances could not be listed, a retrieve with
inconsistent counters is not called complete: nothing else could prove it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pydicom import Dataset

from pacslink.conformance import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    PATIENT_ROOT_QR_GET,
    PATIENT_ROOT_QR_MOVE,
    STORAGE_SOP_CLASS_UIDS,
    STUDY_ROOT_QR_GET,
    STUDY_ROOT_QR_MOVE,
)
from pacslink.dicomnet import pdu as P
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AEConfig, Association, Message
from pacslink.dicomnet.errors import AssociationRejected, NetworkError
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.qr import QROperation, QRResponse, c_get, c_move
from pacslink.errors import QueryError
from pacslink.identifiers import build_retrieve_identifier, encode_identifier
from pacslink.models import Query, QueryLevel, QueryModel, RemoteAE, RetrieveMethod
from pacslink.services.contexts import storage_scp_contexts
from pacslink.services.counters import CounterCheck, describe_problems
from pacslink.services.query import find_on_ae
from pacslink.services.scp import StorageSCP
from pacslink.services.rejection import rejected
from pacslink.services.tls import ClientTLS, open_association
from pacslink.services.tracking import RetrieveRegistry, Tracker

log = logging.getLogger(__name__)
SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
_MOVE = {QueryModel.STUDY_ROOT: STUDY_ROOT_QR_MOVE, QueryModel.PATIENT_ROOT: PATIENT_ROOT_QR_MOVE}
_GET = {QueryModel.STUDY_ROOT: STUDY_ROOT_QR_GET, QueryModel.PATIENT_ROOT: PATIENT_ROOT_QR_GET}


@dataclass(frozen=True)
class RetrieveTarget:
    """What to retrieve: a study, one series of it, or some instances of a series."""

    study_instance_uid: str
    series_instance_uid: str | None = None
    sop_instance_uids: tuple[str, ...] = ()
    patient_id: str | None = None

    @property
    def level(self) -> QueryLevel:
        if self.sop_instance_uids:
            return QueryLevel.IMAGE
        return QueryLevel.SERIES if self.series_instance_uid else QueryLevel.STUDY


@dataclass(frozen=True)
class ExpectedInstance:
    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str


@dataclass
class RetrieveProgress:
    """Live counters for a progress bar: the peer's counters and our own arrivals."""

    method: str
    expected: int | None
    arrived: int
    remaining: int | None = None
    completed: int | None = None
    failed: int | None = None
    warning: int | None = None


@dataclass
class RetrieveReport:
    """The outcome of one retrieve, judged by the final response and by what arrived."""

    ae: RemoteAE
    target: RetrieveTarget
    method: str = ""
    notes: list[str] = field(default_factory=list)
    expected: dict[str, ExpectedInstance] = field(default_factory=dict)
    expected_known: bool = False
    arrived: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    unsolicited: set[str] = field(default_factory=set)
    final_status: int | None = None
    completed: int | None = None
    failed_count: int | None = None
    warning: int | None = None
    error: str = ""
    attempts: int = 0
    counter_problems: list[str] = field(default_factory=list)

    @property
    def missing(self) -> set[str]:
        return set(self.expected) - self.present

    @property
    def complete(self) -> bool:
        """Everything expected is in the store and the peer reported no failure.

        Judged by the instances in the store when the expected ones were listed;
        otherwise by the peer's counters, and only if they were consistent.
        """
        if self.error or self.final_status is None or S.category(self.final_status) == "Failure":
            return False
        if self.expected_known:
            return not self.missing
        return not self.failed_count and bool(self.arrived) and not self.counter_problems

    def peer_counts(self) -> str:
        """The peer's final counters in words (clamped; absent ones left out)."""
        counts = [f"{name}={value}" for name, value in (
            ("completed", self.completed), ("failed", self.failed_count),
            ("warning", self.warning)) if value is not None]
        return "peer reported " + (" ".join(counts) if counts else "no counters")

    @property
    def verdict(self) -> str:
        if self.complete:
            return "complete"
        if self.error:
            return "failed"
        return "incomplete"


ProgressCallback = Callable[[RetrieveProgress], None]
PresentCheck = Callable[[Iterable[str]], Awaitable[set[str]]]


async def list_expected(
    local: AEConfig, ae: RemoteAE, target: RetrieveTarget, *, timeout: float, max_results: int,
    tls: ClientTLS | None = None,
) -> dict[str, ExpectedInstance]:
    """Image-level C-FINDs listing the SOP Instances of ``target`` (PS3.4 C.4.1.2.1).

    Raises
    ------
    QueryError
        When the AE cannot list them (the reason is in the message).
    """
    if target.series_instance_uid:
        series = [target.series_instance_uid]
    else:
        result = await find_on_ae(
            local, ae, Query(QueryLevel.SERIES, patient_id=target.patient_id,
                             study_instance_uid=target.study_instance_uid),
            timeout=timeout, max_results=max_results, tls=tls)
        if not result.ok:
            raise QueryError(f"listing the series failed: {result.error}")
        series = [m.get("SeriesInstanceUID") for m in result.matches if m.get("SeriesInstanceUID")]
    expected: dict[str, ExpectedInstance] = {}
    for series_uid in series:
        result = await find_on_ae(
            local, ae, Query(QueryLevel.IMAGE, patient_id=target.patient_id,
                             study_instance_uid=target.study_instance_uid,
                             series_instance_uid=series_uid),
            timeout=timeout, max_results=max_results, tls=tls)
        if not result.ok:
            raise QueryError(f"listing the instances failed: {result.error}")
        for m in result.matches:
            uid = m.get("SOPInstanceUID")
            if uid and (not target.sop_instance_uids or uid in target.sop_instance_uids):
                expected[uid] = ExpectedInstance(uid, m.get("SOPClassUID"), series_uid)
    return expected


class Retriever:
    """Runs retrieves for one pacslink process.

    Parameters
    ----------
    local : AEConfig
        Our AE; its title is the C-MOVE destination.
    registry : RetrieveRegistry
        Fed by our Storage SCP; tells which arrivals belong to which retrieve.
    storage : StorageSCP
        Stores C-GET sub-operations exactly as the SCP stores C-STOREs.
    present : callable
        ``await present(uids)`` returns the UIDs among them that the store holds.
    own_scp_in_process : bool
        False when another process (``pacslink listen``) receives the C-MOVE
        sub-operations: arrivals are then seen by polling the store.
    tls : ClientTLS, optional
        The client context for AEs marked ``tls = true`` (C-FIND, C-MOVE, C-GET).
    """

    def __init__(
        self, local: AEConfig, registry: RetrieveRegistry, storage: StorageSCP,
        present: PresentCheck, *, own_scp_in_process: bool = True,
        query_timeout: float = 10.0, move_timeout: float = 30.0, max_results: int = 100_000,
        tls: ClientTLS | None = None,
    ) -> None:
        self.local = local
        self.tls = tls
        self.registry = registry
        self.storage = storage
        self.present = present
        self.own_scp_in_process = own_scp_in_process
        self.query_timeout = query_timeout
        self.move_timeout = move_timeout
        self.max_results = max_results

    async def retrieve(
        self, ae: RemoteAE, target: RetrieveTarget, *, method: RetrieveMethod | None = None,
        retries: int = 0, progress: ProgressCallback | None = None,
    ) -> RetrieveReport:
        """Retrieve ``target`` from ``ae``; never raises for network trouble (see the report)."""
        report = RetrieveReport(ae, target)
        try:
            report.expected = await list_expected(
                self.local, ae, target, timeout=self.query_timeout, max_results=self.max_results,
                tls=self.tls)
            report.expected_known = True
        except QueryError as exc:
            report.notes.append(f"cannot list the expected instances ({exc}); "
                                "completeness is judged by the peer's counters only")
        chosen = method or ae.retrieve
        current = target
        for attempt in range(retries + 1):
            report.attempts = attempt + 1
            await self._one_pass(ae, current, report, chosen, progress)
            report.present = await self.present(report.expected) if report.expected else report.arrived
            if report.error or not report.missing or not report.expected_known:
                break
            missing = sorted(report.missing)
            if attempt < retries:
                report.notes.append(f"attempt {attempt + 1}: {len(missing)} missing; asking again for those")
                current = dataclasses.replace(
                    target, series_instance_uid=None, sop_instance_uids=tuple(missing))
        if report.counter_problems:
            report.notes.append(describe_problems(report.counter_problems))
        return report

    async def _one_pass(
        self, ae: RemoteAE, target: RetrieveTarget, report: RetrieveReport,
        method: RetrieveMethod, progress: ProgressCallback | None,
    ) -> None:
        if method is RetrieveMethod.GET:
            await self._get(ae, target, report, progress)
            return
        fallback = await self._move(ae, target, report, progress,
                                    watch=method is RetrieveMethod.AUTO)
        if fallback and method is RetrieveMethod.AUTO:
            report.notes.append(f"{fallback}; fell back to C-GET")
            report.error = ""
            report.final_status = report.completed = report.failed_count = report.warning = None
            report.counter_problems.clear()
            await self._get(ae, target, report, progress)

    def _identifiers(self, target: RetrieveTarget, report: RetrieveReport) -> list[tuple[CounterCheck, Dataset]]:
        """One identifier per series when instances are listed (IMAGE level needs its series).

        Each comes with the :class:`CounterCheck` for its operation, bounded by the
        instances it asks for when they are known.
        """
        if target.level is not QueryLevel.IMAGE:
            bound = len(report.expected) if report.expected_known else None
            return [(CounterCheck(bound), build_retrieve_identifier(
                target.level, patient_id=target.patient_id,
                study_instance_uid=target.study_instance_uid,
                series_instance_uid=target.series_instance_uid, sop_instance_uids=(),
                model=QueryModel.STUDY_ROOT))]
        by_series: dict[str, list[str]] = {}
        for uid in target.sop_instance_uids:
            info = report.expected.get(uid)
            series = target.series_instance_uid or (info.series_instance_uid if info else "")
            by_series.setdefault(series, []).append(uid)
        return [(CounterCheck(len(uids)), build_retrieve_identifier(
            QueryLevel.IMAGE, patient_id=target.patient_id,
            study_instance_uid=target.study_instance_uid, series_instance_uid=series,
            sop_instance_uids=tuple(uids), model=QueryModel.STUDY_ROOT))
            for series, uids in by_series.items()]

    def _record_final(self, report: RetrieveReport, final: QRResponse | None,
                      check: CounterCheck) -> None:
        for problem in check.problems:
            if problem not in report.counter_problems:
                report.counter_problems.append(problem)
        if final is None:
            report.error = report.error or "no final response"
            return
        report.final_status = final.status
        for name, value in (("completed", final.completed), ("failed_count", final.failed),
                            ("warning", final.warning)):
            if value is not None:  # a counter the peer left out stays "not reported"
                setattr(report, name, (getattr(report, name) or 0) + (check.clamp(value) or 0))
        if S.category(final.status) == "Failure":
            comment = f" ({final.error_comment})" if final.error_comment else ""
            report.error = f"{S.describe(final.status)}{comment}"

    async def _move(
        self, ae: RemoteAE, target: RetrieveTarget, report: RetrieveReport,
        progress: ProgressCallback | None, *, watch: bool,
    ) -> str:
        """C-MOVE to ourselves; returns a reason to fall back to C-GET, or ``""``."""
        report.method = "move"
        contexts = build_contexts([(_MOVE[QueryModel.STUDY_ROOT], SYNTAXES)])
        with self._tracked(ae, report) as tracker:
            async with await open_association(self.local, ae, contexts, tls=self.tls) as assoc:
                ctx = assoc.context_for(_MOVE[QueryModel.STUDY_ROOT])
                for check, identifier in self._identifiers(target, report):
                    op = c_move(assoc, ctx, self.local.ae_title,
                                encode_identifier(identifier, ctx.transfer_syntax),
                                message_id=tracker.message_id)
                    final = await self._follow(op, tracker, report, progress, watch, check)
                    if final is None and watch:
                        return f"nothing arrived by C-MOVE within {self.move_timeout:g} s"
                    self._record_final(report, final, check)
                    if final is not None and final.status == S.MOVE_DESTINATION_UNKNOWN:
                        return (f"{ae.name} does not know our AE title {self.local.ae_title} "
                                "as a move destination (0xA801)")
                    if report.error and not tracker.arrived and watch:
                        # e.g. Orthanc answers 0xC000 for an unknown destination
                        return f"C-MOVE failed with nothing received ({report.error})"
                    if report.error:
                        break
        return ""

    @contextlib.contextmanager
    def _tracked(self, ae: RemoteAE, report: RetrieveReport) -> Iterator[Tracker]:
        """Register a retrieve's tracker; network failures become the report's error."""
        tracker = self.registry.begin(ae.ae_title, set(report.expected), ae.host)
        try:
            yield tracker
        except AssociationRejected as exc:
            report.error = rejected(exc, self.local.ae_title, ae)
        except NetworkError as exc:
            report.error = str(exc)
        finally:
            self.registry.end(tracker)
            report.arrived |= tracker.arrived
            report.failed.update(tracker.failed)
            report.unsolicited |= tracker.extra

    async def _follow(self, op: QROperation, tracker: Tracker, report: RetrieveReport,
                      progress: ProgressCallback | None, watch: bool,
                      check: CounterCheck) -> QRResponse | None:
        """Iterate C-MOVE responses; in auto mode give up when nothing happens for move_timeout."""
        responses = op.__aiter__()
        final: QRResponse | None = None
        loop = asyncio.get_running_loop()
        polled = -1.0
        while True:
            try:
                async with asyncio.timeout(self.move_timeout if watch else None):
                    response = await anext(responses)
            except StopAsyncIteration:
                return final
            except TimeoutError:
                if tracker.arrived:
                    watch = False  # it is working, only slowly: keep waiting
                    continue
                await op.assoc.abort()
                return None
            check.observe(response)
            if response.pending and (response.completed or tracker.arrived):
                watch = False
            now = loop.time()
            if not self.own_scp_in_process and report.expected and (
                    not response.pending or now - polled >= 0.5):
                # another process receives: read its arrivals from the store, not per response
                polled = now
                tracker.arrived |= await self.present(report.expected)
            if progress is not None:
                progress(_progress("move", report, tracker, response, check))
            if not response.pending:
                return response

    async def _get(self, ae: RemoteAE, target: RetrieveTarget, report: RetrieveReport,
                   progress: ProgressCallback | None) -> None:
        report.method = "get"
        classes = sorted({e.sop_class_uid for e in report.expected.values() if e.sop_class_uid}
                         or STORAGE_SOP_CLASS_UIDS)
        accepted = storage_scp_contexts()
        wanted: list[tuple[str, tuple[str, ...]]] = [(_GET[QueryModel.STUDY_ROOT], SYNTAXES)]
        wanted += [(uid, tuple(accepted.get(uid, SYNTAXES))) for uid in classes][:126]
        roles = [P.SCPSCURoleSelection(uid, True, True) for uid, _ in wanted[1:]]
        assoc: Association | None = None
        with self._tracked(ae, report) as tracker:
            # C-GET sub-operations are ours by construction: record them on this tracker.
            storage = StorageSCP(self.storage.local, self.storage.open_instance, tracker.record)

            async def on_store(message: Message) -> int | tuple[int, str]:
                assert assoc is not None
                return await storage.on_c_store(assoc, message)

            assoc = await open_association(self.local, ae, build_contexts(wanted), tls=self.tls,
                                           roles=roles)
            async with assoc:
                ctx = assoc.context_for(_GET[QueryModel.STUDY_ROOT])
                for check, identifier in self._identifiers(target, report):
                    op = c_get(assoc, ctx, encode_identifier(identifier, ctx.transfer_syntax),
                               on_store=on_store, sink_factory=storage.open_dataset_sink)
                    final = None
                    async for response in op:
                        check.observe(response)
                        if progress is not None:
                            progress(_progress("get", report, tracker, response, check))
                        final = response if not response.pending else final
                    self._record_final(report, final, check)
                    if report.error:
                        break


def _progress(method: str, report: RetrieveReport, tracker: Tracker, response: QRResponse,
              check: CounterCheck) -> RetrieveProgress:
    """A progress snapshot with the peer's counters clamped to what is possible."""
    return RetrieveProgress(method, len(report.expected) or None, len(tracker.arrived),
                            check.clamp(response.remaining), check.clamp(response.completed),
                            check.clamp(response.failed), check.clamp(response.warning))


__all__ = [
    "ExpectedInstance",
    "RetrieveProgress",
    "RetrieveReport",
    "RetrieveTarget",
    "Retriever",
    "list_expected",
]

