"""The one Python API of pacslink: what the CLI, the web UI and scripts call.

Async first; each coroutine has a synchronous twin via :func:`run` for scripts::

    import pacslink.api as api
    app = api.Pacslink.from_home()
    results = api.run(app.echo_all())

The facade wires the layers together: the Storage SCP (``services``) gets the store's
``begin`` as its ``open_instance``, so neither knows of the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import importlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pacslink import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from pacslink.config import AERegistry, Settings, load_settings, resolve_ae
from pacslink.dicomnet import status as dimse_status
from pacslink.dicomnet.association import AEConfig, Limits
from pacslink.dicomnet.server import DicomServer
from pacslink.errors import PacslinkError, StoreError
from pacslink.models import (
    Query,
    QueryMatch,
    QueryLevel,
    QueryModel,
    RemoteAE,
    RetrieveMethod,
    SeriesSummary,
    StoredInstance,
    StudyDetail,
    StudySummary,
    SyncMode,
    VerifyReport,
)
from pacslink.services.access import CachedRegistry, CallerPolicy
from pacslink.services.part10 import NotPart10Error, Part10Info, read_part10_info
from pacslink.services.scp import StorageSCP, StoredEvent
from pacslink.services.tracking import RetrieveRegistry
from pacslink.services.scu import EchoResult, FileOutcome, echo, echo_many, send_files
from pacslink.services.tls import ClientTLS, TLSFiles, server_context

if TYPE_CHECKING:
    from pydicom import Dataset

    from pacslink.services.qrscp import LocatedInstance, Quirks
    from pacslink.services.query import (
        AEDoneCallback,
        AEQueryResult,
        FederatedResult,
        MatchCallback,
    )
    from pacslink.services.retrieve import (
        ProgressCallback,
        RetrieveProgress,
        RetrieveReport,
        RetrieveTarget,
        Retriever,
    )
    from pacslink.store import Index, Store
    from pacslink.store.reconcile import StoreSession

#: Names this module offers whose modules are imported on first use: C-FIND, retrieve,
#: the Q/R SCP and the store pull in pydicom and SQLAlchemy, which ``echo`` and ``send``
#: do not need (PEP 562 module ``__getattr__``).
_LAZY = {
    "AEQueryResult": "pacslink.services.query",
    "FederatedResult": "pacslink.services.query",
    "Quirks": "pacslink.services.qrscp",
    "RetrieveProgress": "pacslink.services.retrieve",
    "RetrieveReport": "pacslink.services.retrieve",
    "RetrieveTarget": "pacslink.services.retrieve",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


log = logging.getLogger(__name__)
T = TypeVar("T")
#: Items :meth:`Pacslink.find_stream` holds for a consumer that has not taken them yet.
STREAM_BUFFER = 256

__all__ = [
    "AEQueryResult",
    "Quirks",
    "FederatedResult",
    "Query",
    "QueryLevel",
    "QueryModel",
    "RetrieveProgress",
    "RetrieveReport",
    "RetrieveTarget",
    "EchoResult",
    "FileOutcome",
    "Pacslink",
    "ScanResult",
    "StoredEvent",
    "describe_status",
    "run",
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one API coroutine to completion from synchronous code (asyncio's event loop).

    uvloop was measured as the loop (docs/performance.md): about 5-9 % more C-ECHOs per
    second, no change in receiving, and a TLS handshake through
    ``StreamWriter.start_tls`` that never completed, so pacslink keeps asyncio's loop.
    """
    return asyncio.run(coro)


def describe_status(status: int) -> str:
    """``0xA700 Out of resources`` for a DIMSE status (PS3.7 Annex C)."""
    return dimse_status.describe(status)


def status_category(status: int) -> str:
    """``Success``, ``Warning``, ``Failure``, ``Cancel`` or ``Pending``."""
    return dimse_status.category(status)


@dataclass(frozen=True)
class SkippedFile:
    """A file ``send`` could not use, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """Files found for sending: usable ones and skipped ones."""

    files: tuple[Part10Info, ...]
    skipped: tuple[SkippedFile, ...]


def scan_paths(paths: Iterable[Path]) -> ScanResult:
    """Expand files and folders (recursively) into sendable Part 10 files.

    Unreadable or non-DICOM files are listed as skipped, never fatal.
    """
    found: list[Part10Info] = []
    skipped: list[SkippedFile] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            candidates = [path]
        else:
            skipped.append(SkippedFile(str(path), "no such file or folder"))
            continue
        for candidate in candidates:
            try:
                found.append(read_part10_info(candidate))
            except NotPart10Error as exc:
                skipped.append(SkippedFile(str(candidate), str(exc)))
            except OSError as exc:
                skipped.append(SkippedFile(str(candidate), exc.strerror or str(exc)))
    return ScanResult(tuple(found), tuple(skipped))


class Pacslink:
    """One pacslink home: its settings, remote AEs, local store and network services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = AERegistry.for_home(settings.home)
        self._index: Index | None = None
        self._store: Store | None = None
        self._session: StoreSession | None = None
        self.retrieves = RetrieveRegistry(settings.ae_title)
        self._listener: DicomServer | None = None
        self._known_callers = CachedRegistry(self.registry.path, self.registry.list)
        self.tls = ClientTLS(self.tls_files())

    @classmethod
    def from_home(
        cls, home: Path | None = None, flags: Mapping[str, object] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Pacslink:
        """Load settings (default < file < environment < ``flags``) and build the facade."""
        return cls(load_settings(home, flags, environ))

    # --- identity and peers -----------------------------------------------------------

    def local_ae(self) -> AEConfig:
        """Our AE title, implementation identity and network limits from the settings."""
        s = self.settings
        limits = Limits(
            max_pdu_length=s.max_pdu_length, connect_timeout=s.connect_timeout,
            acse_timeout=s.acse_timeout, network_timeout=s.network_timeout,
            dimse_timeout=s.dimse_timeout, max_identifier_length=s.max_identifier_kb * 1024,
        )
        return AEConfig(s.ae_title, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, limits)

    def tls_files(self) -> TLSFiles:
        """The DICOM TLS files and choices of the ``tls_*`` settings."""
        s = self.settings
        return TLSFiles(s.tls_cert, s.tls_key, s.tls_ca, s.tls_require_client_cert,
                        s.tls_check_hostname)

    def resolve(self, spec: str) -> RemoteAE:
        """A configured AE name or ``AET@host:port``."""
        return resolve_ae(spec, self.registry)

    def remote_aes(self) -> list[RemoteAE]:
        return self.registry.list()

    def caller_policy(self) -> CallerPolicy:
        """Who may associate with our SCPs: the configured remote AEs, the sources of
        running retrieves, and the ``accept_unknown_callers`` / ``check_caller_host``
        settings (see :mod:`pacslink.services.access`)."""
        return CallerPolicy(self._known_callers, expected=self.retrieves.senders,
                            accept_unknown=self.settings.accept_unknown_callers,
                            check_host=self.settings.check_caller_host,
                            home=self.settings.home)

    # --- store ------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The local store (opened on first use)."""
        if self._store is None:
            from pacslink.store import Index, Store
            from pacslink.store.reconcile import open_session

            durable = self.settings.sync is SyncMode.DURABLE
            self._index = Index(self.settings.db_url, durable=durable)
            # lease the store and repair what a crash left, before this process writes
            self._session = open_session(self.settings.store_dir, self._index)
            self._store = Store(
                self.settings.store_dir, self._index,
                min_free_bytes=self.settings.min_free_mb * 1_000_000,
                max_instance_bytes=self.settings.max_instance_mb * 1_000_000,
                duplicate_policy=self.settings.duplicates,
                sync=self.settings.sync,
            )
        return self._store

    @property
    def index(self) -> Index:
        self.store  # noqa: B018 - opens the index too
        assert self._index is not None
        return self._index

    def list_studies(self, patient_id: str | None = None) -> list[StudySummary]:
        return self.index.list_studies(patient_id)

    def study_detail(self, study_instance_uid: str) -> StudyDetail | None:
        return self.index.study_detail(study_instance_uid)

    def verify_store(self) -> VerifyReport:
        from pacslink.store import verify

        return verify(self.store)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()  # its group committer finishes first
        if self._session is not None:
            self._session.close()
        if self._index is not None:
            self._index.close()
        self._index = self._session = None
        self._store = None

    # --- network ----------------------------------------------------------------------

    async def echo(self, spec: str | RemoteAE) -> EchoResult:
        ae = spec if isinstance(spec, RemoteAE) else self.resolve(spec)
        return await echo(self.local_ae(), ae, tls=self.tls)

    async def echo_all(self) -> list[EchoResult]:
        """C-ECHO every configured AE at once."""
        return await echo_many(self.local_ae(), self.remote_aes(), tls=self.tls)

    async def send(
        self, spec: str | RemoteAE, files: Sequence[Part10Info],
        progress: Callable[[FileOutcome], None] | None = None,
    ) -> list[FileOutcome]:
        """C-STORE ``files`` to a remote AE; one outcome per file.

        Raises
        ------
        ConfigError
            ``ae`` is marked ``tls = true`` and the ``tls_*`` settings give no client
            context: a configuration error, said once rather than once per file.
        """
        ae = spec if isinstance(spec, RemoteAE) else self.resolve(spec)
        self.tls.context_for(ae)
        return await send_files(self.local_ae(), ae, files, progress, tls=self.tls)

    async def start_listener(
        self, on_stored: Callable[[StoredEvent], None] | None = None,
        *, port: int | None = None, bind: str | None = None,
        port_hint: str = "choose another with --port", tls: bool = False,
    ) -> DicomServer:
        """Start the Storage + Verification SCP; stop it with ``await server.close()``.

        With ``tls``, the port speaks DICOM TLS only (PS3.15 B.1), with the certificate,
        key and CA of the ``tls_*`` settings. Calling AE titles are checked by
        :meth:`caller_policy`.

        Raises
        ------
        ConfigError
            ``tls`` and the ``tls_*`` settings cannot give a server context.
        PacslinkError
            The port cannot be bound (in use, or not permitted).
        """
        store = self.store
        registry = self.retrieves

        def observe(event: StoredEvent) -> None:
            registry.on_stored(event)
            if on_stored is not None:
                on_stored(event)

        provider = StorageSCP(self.local_ae(), store.begin, observe,
                              callers=self.caller_policy())
        server = await self._serve(provider, port, bind, port_hint, tls)
        if not self._listening():
            self._listener = server  # retrieves of this process receive through it
        return server

    def _listening(self) -> bool:
        return self._listener is not None and self._listener.serving

    async def _serve(
        self, provider: StorageSCP, port: int | None, bind: str | None, port_hint: str,
        tls: bool = False,
    ) -> DicomServer:
        """Start ``provider``; a busy port's message ends with ``port_hint`` (how to change it)."""
        s = self.settings
        context = server_context(self.tls_files()) if tls else None
        server = DicomServer(provider, max_associations=s.max_associations,
                             max_pending=s.max_pending,
                             max_pending_per_source=s.max_pending_per_source, ssl=context)
        host = bind or self.settings.bind
        number = self.settings.port if port is None else port
        try:
            await server.start(host, number)
        except OSError as exc:
            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                message = f"cannot bind to '{host}': no such local address; check --bind"
            elif exc.errno == errno.EADDRINUSE:
                message = (f"port {number} is in use (is another pacslink or DICOM server "
                           f"running?); {port_hint}")
            elif exc.errno == errno.EACCES:
                message = f"port {number} needs privileges; use a port above 1023"
            else:
                message = (f"cannot listen on {host}:{number}: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}")
            raise PacslinkError(message) from exc
        log.info("listening as %s on %s:%d%s (store %s)", self.settings.ae_title, host,
                 server.port, " with DICOM TLS" if tls else "", os.fspath(self.settings.store_dir))
        return server

    async def start_pacs(
        self, quirks: Quirks | None = None, *, port: int | None = None, bind: str | None = None,
        port_hint: str = "choose another with --port", tls: bool = False,
    ) -> DicomServer:
        """Serve this home's store as a Query/Retrieve SCP (the sample PACS).

        C-FIND matches over the index, C-MOVE sends to the AEs of this home's registry
        (matched by AE title; an unknown one gets 0xA801), C-GET answers on the same
        association, and C-STOREs go into the store. Calling AE titles are checked by
        :meth:`caller_policy`, so the AEs that query it must be in this home's registry.
        With ``tls`` the port speaks DICOM TLS only, as in :meth:`start_listener`; C-MOVE
        destinations marked ``tls = true`` are sent to over TLS.
        """
        from pacslink.services.qrscp import LocatedInstance, QueryRetrieveSCP
        from pacslink.store.matching import find_matches, locate_instances

        store, index = self.store, self.index
        limit = self.settings.max_results

        def find(level: QueryLevel, model: QueryModel, identifier: Dataset) -> list[Dataset]:
            return find_matches(index, level, model, identifier, limit=limit)

        def locate(level: QueryLevel, model: QueryModel, identifier: Dataset) -> list[LocatedInstance]:
            return [LocatedInstance(i.sop_instance_uid, store.path_of(i))
                    for i in locate_instances(index, level, model, identifier)]

        def destination(ae_title: str) -> RemoteAE | None:
            return next((ae for ae in self.remote_aes() if ae.ae_title == ae_title), None)

        provider = QueryRetrieveSCP(self.local_ae(), store.begin, find=find, locate=locate,
                                    destinations=destination, quirks=quirks,
                                    on_stored=self.retrieves.on_stored,
                                    callers=self.caller_policy(), tls=self.tls)
        return await self._serve(provider, port, bind, port_hint, tls)

    def import_paths(
        self, paths: Iterable[Path], progress: Callable[[str, str], None] | None = None,
    ) -> dict[str, int]:
        """Copy DICOM files into the store, as if received (blocking; run in a thread).

        Returns counts of ``stored``, ``duplicate`` and ``failed``; ``progress(path, what)``
        is called per file. Files already in the store (same SOP Instance UID) are skipped.
        """
        counts = {"stored": 0, "duplicate": 0, "failed": 0}
        store = self.store
        for info in scan_paths(paths).files:
            if self.index.get_instance(info.sop_instance_uid) is not None:
                what = "duplicate"
            else:
                try:
                    incoming = store.begin(
                        sop_class_uid=info.sop_class_uid, sop_instance_uid=info.sop_instance_uid,
                        transfer_syntax_uid=info.transfer_syntax_uid, calling_ae="IMPORT")
                    with open(info.path, "rb") as f:
                        f.seek(info.dataset_offset)
                        while chunk := f.read(1 << 20):
                            incoming.write(chunk)
                    what = "duplicate" if incoming.commit().duplicate else "stored"
                except (PacslinkError, OSError) as exc:
                    log.warning("cannot import %s: %s", info.path, exc)
                    what = "failed"
            counts[what] += 1
            if progress is not None:
                progress(str(info.path), what)
        return counts

    # --- query / retrieve -------------------------------------------------------------

    def _aes(self, names: Sequence[str] | None) -> list[RemoteAE]:
        aes = [self.resolve(n) for n in names] if names else self.remote_aes()
        if not aes:
            raise PacslinkError(
                "no remote AEs configured; add one with: pacslink ae add NAME --aet AET "
                "--host HOST --port PORT")
        return aes

    async def find(
        self, query: Query, *, aes: Sequence[str] | None = None,
        model: QueryModel | None = None, on_match: MatchCallback | None = None,
        on_ae_done: AEDoneCallback | None = None,
    ) -> FederatedResult:
        """C-FIND every selected AE at once (all configured ones by default) and merge.

        Raises
        ------
        QueryError
            The query is invalid (nothing was sent).
        """
        from pacslink.services.query import federated_find

        s = self.settings
        return await federated_find(
            self.local_ae(), self._aes(aes), query, model=model, max_results=s.max_results,
            timeout=s.query_timeout, on_match=on_match, on_ae_done=on_ae_done, tls=self.tls)

    async def find_stream(
        self, query: Query, *, aes: Sequence[str] | None = None, model: QueryModel | None = None,
    ) -> AsyncIterator[tuple[RemoteAE, QueryMatch] | AEQueryResult]:
        """Like :meth:`find`, but yield ``(ae, match)`` as each match arrives and each
        AE's :class:`AEQueryResult` as it finishes (what a live UI shows).

        At most :data:`STREAM_BUFFER` items wait for a slow consumer; then the AEs are
        not read until it catches up (TCP flow control holds them back), so a flood of
        matches does not pile up in memory.
        """
        queue: asyncio.Queue[tuple[RemoteAE, QueryMatch] | AEQueryResult] = asyncio.Queue(
            STREAM_BUFFER)
        task = asyncio.create_task(self.find(
            query, aes=aes, model=model, on_match=lambda ae, m: queue.put((ae, m)),
            on_ae_done=queue.put))
        try:
            while not (task.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            task.result()  # re-raise a QueryError
        finally:
            if not task.done():
                task.cancel()

    async def _present(self, uids: Iterable[str]) -> set[str]:
        wanted = list(uids)
        return await asyncio.to_thread(self.index.present, wanted)

    @contextlib.asynccontextmanager
    async def receiving(self) -> AsyncIterator[Retriever]:
        """A :class:`Retriever` with our Storage SCP running to receive C-MOVE sub-operations.

        Uses the SCP this process already runs, else starts one on the configured port;
        if that port is taken by another pacslink (``pacslink listen``), that one
        receives and arrivals are read from the shared store.
        """
        local = self.local_ae()
        started: DicomServer | None = None
        own = True
        if not self._listening():
            self._listener = None
            try:
                started = await self.start_listener()
            except PacslinkError as exc:
                cause = exc.__cause__
                if not (isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE):
                    raise
                if not await self._our_listener_answers():
                    raise PacslinkError(
                        f"port {self.settings.port} is in use by something that is not pacslink "
                        f"as {self.settings.ae_title}; C-MOVE needs our Storage SCP there. "
                        "Stop it, or use --method get.") from exc
                own = False  # `pacslink listen` receives; arrivals are read from the store
        from pacslink.services.retrieve import Retriever

        storage = StorageSCP(local, self.store.begin, self.retrieves.on_stored)
        s = self.settings
        retriever = Retriever(local, self.retrieves, storage, self._present,
                              own_scp_in_process=own, query_timeout=s.query_timeout,
                              move_timeout=s.move_timeout, tls=self.tls)
        try:
            yield retriever
        finally:
            if started is not None:
                self._listener = None
                await started.close()

    async def _our_listener_answers(self) -> bool:
        host = "127.0.0.1" if self.settings.bind in ("0.0.0.0", "::") else self.settings.bind
        me = RemoteAE("self", self.settings.ae_title, host, self.settings.port)
        if (await echo(self.local_ae(), me)).ok:
            return True
        if self.settings.tls_ca is None:
            return False
        # `pacslink listen --tls`
        return (await echo(self.local_ae(), dataclasses.replace(me, tls=True), tls=self.tls)).ok

    async def retrieve(
        self, spec: str | RemoteAE, target: RetrieveTarget, *,
        method: RetrieveMethod | None = None, retries: int = 0,
        progress: ProgressCallback | None = None,
    ) -> RetrieveReport:
        """Retrieve a study, series or instances from one AE into the local store."""
        ae = spec if isinstance(spec, RemoteAE) else self.resolve(spec)
        async with self.receiving() as retriever:
            return await retriever.retrieve(ae, target, method=method, retries=retries,
                                            progress=progress)

    async def retrieve_patient(
        self, patient_id: str, *, aes: Sequence[str] | None = None,
        method: RetrieveMethod | None = None, retries: int = 0,
        progress: ProgressCallback | None = None,
        on_report: Callable[[RetrieveReport], None] | None = None,
    ) -> tuple[FederatedResult, list[RetrieveReport]]:
        """Everything found for a patient, each study from the first AE that holds it."""
        found = await self.find(Query(QueryLevel.STUDY, patient_id=patient_id), aes=aes)
        reports: list[RetrieveReport] = []
        async with self.receiving() as retriever:
            for row in found.rows:
                target = RetrieveTarget(row.match.get("StudyInstanceUID"), patient_id=patient_id)
                report = await retriever.retrieve(self.resolve(row.aes[0]), target, method=method,
                                                  retries=retries, progress=progress)
                reports.append(report)
                if on_report is not None:
                    on_report(report)
        return found, reports

    # --- local store: lookups and deletion (the web UI's viewer and store pages) -------

    @property
    def listening(self) -> bool:
        """Whether this process's Storage SCP (:meth:`start_listener`) is serving."""
        return self._listening()

    def instance_file(self, sop_instance_uid: str) -> tuple[StoredInstance, Path] | None:
        """The indexed instance with this SOP Instance UID and its file's absolute path.

        Returns ``None`` for an instance the store does not hold (blocking: run in a thread).
        """
        item = self.index.get_instance(sop_instance_uid)
        return None if item is None else (item, self.store.path_of(item))

    def series_detail(self, series_instance_uid: str) -> tuple[StudyDetail, SeriesSummary] | None:
        """A locally held series with its study, or ``None`` (blocking: run in a thread)."""
        study_uid = self.index.study_of_series(series_instance_uid)
        detail = self.study_detail(study_uid) if study_uid is not None else None
        if detail is None:
            return None
        found = [s for s in detail.series if s.series_instance_uid == series_instance_uid]
        return (detail, found[0]) if found else None

    def delete_study(self, study_instance_uid: str) -> list[StoredInstance]:
        """Delete a study from the local store: its index rows, then its files.

        Returns the deleted instances (empty for a study the store does not hold). A file
        that cannot be removed is logged and left; ``pacslink store verify`` lists it as
        an orphan.
        """
        removed = self.index.delete_study(study_instance_uid)
        for item in removed:
            try:
                self.store.path_of(item).unlink(missing_ok=True)
            except (OSError, StoreError) as exc:
                log.warning("could not remove the file of a deleted instance: %s", exc)
        return removed
