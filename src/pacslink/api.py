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
import logging
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pacslink import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from pacslink.config import AERegistry, Settings, load_settings, resolve_ae
from pacslink.dicomnet import status as dimse_status
from pacslink.dicomnet.association import AEConfig, Limits
from pacslink.dicomnet.server import DicomServer
from pacslink.errors import PacslinkError
from pacslink.models import RemoteAE, StudyDetail, StudySummary, VerifyReport
from pacslink.services.part10 import NotPart10Error, Part10Info, read_part10_info
from pacslink.services.scp import StorageSCP, StoredEvent
from pacslink.services.scu import EchoResult, FileOutcome, echo, echo_many, send_files
from pacslink.store import Index, Store, verify

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "EchoResult",
    "FileOutcome",
    "Pacslink",
    "ScanResult",
    "StoredEvent",
    "describe_status",
    "run",
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one API coroutine to completion from synchronous code."""
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
            dimse_timeout=s.dimse_timeout,
        )
        return AEConfig(s.ae_title, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, limits)

    def resolve(self, spec: str) -> RemoteAE:
        """A configured AE name or ``AET@host:port``."""
        return resolve_ae(spec, self.registry)

    def remote_aes(self) -> list[RemoteAE]:
        return self.registry.list()

    # --- store ------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The local store (opened on first use)."""
        if self._store is None:
            self._index = Index(self.settings.db_url)
            self._store = Store(
                self.settings.store_dir, self._index,
                min_free_bytes=self.settings.min_free_mb * 1_000_000,
                duplicate_policy=self.settings.duplicates,
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
        return verify(self.store)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self._index = None
        self._store = None

    # --- network ----------------------------------------------------------------------

    async def echo(self, spec: str | RemoteAE) -> EchoResult:
        ae = spec if isinstance(spec, RemoteAE) else self.resolve(spec)
        return await echo(self.local_ae(), ae)

    async def echo_all(self) -> list[EchoResult]:
        """C-ECHO every configured AE at once."""
        return await echo_many(self.local_ae(), self.remote_aes())

    async def send(
        self, spec: str | RemoteAE, files: Sequence[Part10Info],
        progress: Callable[[FileOutcome], None] | None = None,
    ) -> list[FileOutcome]:
        """C-STORE ``files`` to a remote AE; one outcome per file."""
        ae = spec if isinstance(spec, RemoteAE) else self.resolve(spec)
        return await send_files(self.local_ae(), ae, files, progress)

    async def start_listener(
        self, on_stored: Callable[[StoredEvent], None] | None = None,
        *, port: int | None = None, bind: str | None = None,
    ) -> DicomServer:
        """Start the Storage + Verification SCP; stop it with ``await server.close()``.

        Raises
        ------
        PacslinkError
            The port cannot be bound (in use, or not permitted).
        """
        store = self.store
        provider = StorageSCP(self.local_ae(), store.begin, on_stored)
        server = DicomServer(provider, max_associations=self.settings.max_associations)
        host = bind or self.settings.bind
        number = self.settings.port if port is None else port
        try:
            await server.start(host, number)
        except OSError as exc:
            raise PacslinkError(
                f"cannot listen on {host}:{number}: "
                f"{os.strerror(exc.errno) if exc.errno else exc}. "
                "Is another pacslink or DICOM server using it? Choose another with --port."
            ) from exc
        log.info("listening as %s on %s:%d (store %s)", self.settings.ae_title, host,
                 server.port, os.fspath(self.settings.store_dir))
        return server
