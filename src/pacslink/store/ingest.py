"""Receiving instances into the local store: :class:`Store` and :class:`IncomingFile`.

The Storage SCP streams each received data set into an :class:`IncomingFile` as P-DATA
fragments arrive, then calls :meth:`IncomingFile.commit` in a worker thread and answers
the C-STORE only when it returns. By then (PS3.4 B.2.3 success means "stored"):

1. the data set has been written after a 128-byte preamble, ``DICM`` and a File Meta
   Information group (PS3.10 7.1) naming the received transfer syntax, bytes unchanged;
2. its header has been parsed (bounded, see :mod:`pacslink.store.parse`) and its SOP
   Class/Instance UIDs match the command's;
3. the file has been fsynced, renamed atomically from ``tmp/`` to a generated name under
   ``objects/``, and the directory fsynced;
4. the index row has been committed.

A store made with ``sync=SyncMode.NEVER`` (setting ``sync = never``) skips the fsyncs of
step 3 (its index should be opened with ``durable=False`` too): the instance is on disk
and in the index as far as every process can see, but a power loss may still take it.

On any failure the temp file is removed (and the final file, if the index refused the
row) and a :class:`~pacslink.errors.StoreError` subclass says why, which the SCP maps to
a status: :class:`~pacslink.errors.StoreFullError` 0xA700,
:class:`~pacslink.errors.DatasetMismatchError` 0xA900,
:class:`~pacslink.errors.DatasetParseError` 0xC000.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import os
from datetime import UTC, datetime
from collections.abc import Awaitable, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Self

from pacslink.errors import DatasetMismatchError, InstanceTooLargeError, StoreError
from pacslink.models import DuplicatePolicy, IngestResult, StoredInstance, SyncMode
from pacslink.store import commit, paths
from pacslink.store.index import Index
from pacslink.store.meta import PREAMBLE, check_uid, file_meta_bytes, sanitize_ae
from pacslink.store.parse import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, encoding_of, parse_header
from pacslink.store.committer import GroupCommitter
from pacslink.store.record import InstanceRecord, Value, values_from_dataset, values_from_raw
from pacslink.store.scan import scan
from pacslink.store.structure import check_structure

logger = logging.getLogger(__name__)

#: Free space is re-checked after this many bytes written to one file.
CHECK_FREE_EVERY = 16 * 2**20
# Per file being received (many may be open at once). Smaller than the P-DATA fragments
# of bulk data (storescu sends 64 KB), which then go to the file without being copied
# into the buffer first; a small data set is still written in one go.
_BUFFER = 32 * 1024
#: The first bytes of each data set are also kept in memory, so that checking and
#: indexing a small one (:mod:`pacslink.store.scan`) reads nothing back from its file.
HEAD_BYTES = 64 * 1024


class _State(enum.Enum):
    OPEN = "open"
    DONE = "done"
    FAILED = "failed"
    ABORTED = "aborted"


class Store:
    """The local store: DICOM Part 10 files under ``root`` plus an :class:`Index`.

    Parameters
    ----------
    root : Path
        The store directory; ``root/objects`` and ``root/tmp`` are created.
    index : Index
        The index the store records instances in (not owned: the caller closes it).
    min_free_bytes : int
        Refuse to receive (:class:`~pacslink.errors.StoreFullError`) when fewer bytes
        are free on the file system.
    duplicate_policy : DuplicatePolicy
        What to do with a SOP Instance UID already held: keep the first copy or
        replace it.
    max_inflated_bytes : int
        The most a Deflated Explicit VR Little Endian data set may inflate to.
    max_instance_bytes : int
        The largest instance accepted (file meta included); 0 means no limit. A larger
        one is cut off as it streams in, with nothing kept.
    sync : SyncMode
        ``DURABLE`` (default) fsyncs each file and its directory before the commit
        returns; ``NEVER`` does not (throwaway receivers and benchmarks only).

    Notes
    -----
    Temp files whose receiving process died (see :mod:`pacslink.store.paths`) are
    removed at start; files still being received by another live process are kept.
    """

    def __init__(
        self,
        root: Path,
        index: Index,
        *,
        min_free_bytes: int = 200 * 2**20,
        duplicate_policy: DuplicatePolicy = DuplicatePolicy.KEEP,
        max_inflated_bytes: int = 4 * 2**30,
        max_instance_bytes: int = 0,
        sync: SyncMode = SyncMode.DURABLE,
    ) -> None:
        self.root = Path(root).resolve()
        self.sync = SyncMode(sync)
        self.max_instance_bytes = max_instance_bytes
        self.index = index
        self.min_free_bytes = min_free_bytes
        self.duplicate_policy = DuplicatePolicy(duplicate_policy)
        self.max_inflated_bytes = max_inflated_bytes
        self._committer: GroupCommitter[IncomingFile, IngestResult] | None = None
        self._ready_dirs: set[PurePosixPath] = set()
        try:
            for directory in (self.root, self.tmp_dir, self.objects_dir):
                directory.mkdir(parents=True, exist_ok=True)
            paths.prepare_object_dirs(self.root)
        except OSError as exc:
            raise paths.translate_os_error(exc, f"cannot create the store in {self.root}") from exc
        removed = self.clean_temp()
        if removed:
            logger.info("removed %d stale temporary file(s) from %s", removed, self.tmp_dir)

    @property
    def tmp_dir(self) -> Path:
        """``root/tmp``, where files are received before they are committed."""
        return self.root / paths.TMP_DIR

    @property
    def objects_dir(self) -> Path:
        """``root/objects``, where committed instance files live."""
        return self.root / paths.OBJECTS_DIR

    def clean_temp(self) -> int:
        """Remove temp files left by dead processes; return how many were removed."""
        stale = paths.stale_temp_files(self.root)
        for path in stale:
            paths.unlink_quietly(path)
        return len(stale)

    @property
    def committer(self) -> GroupCommitter[IncomingFile, IngestResult]:
        """The group committer of :meth:`IncomingFile.commit_async` (started on first use)."""
        if self._committer is None:
            self._committer = GroupCommitter(self.commit_batch)
        return self._committer

    def close(self) -> None:
        """Stop the group committer after it has committed everything submitted."""
        if self._committer is not None:
            self._committer.close()
            self._committer = None

    def commit_batch(self, incoming: Sequence[IncomingFile]) -> list[IngestResult | Exception]:
        """Commit several received instances together (group commit); blocking.

        See :func:`pacslink.store.commit.commit_batch`.
        """
        return commit.commit_batch(self, incoming)

    def commit_now(self, item: IncomingFile) -> IngestResult | Exception | None:
        """Commit ``item`` on this thread if that needs no waiting, else ``None``.

        See :func:`pacslink.store.commit.commit_now`.
        """
        return commit.commit_now(self, item)

    def move_into_objects(self, source: Path, relpath: PurePosixPath) -> None:
        """Rename ``source`` to ``root / relpath``, creating its directory durably.

        Each directory is checked (and made) once per store; if it has vanished since,
        it is made again.
        """
        directory = relpath.parent
        if directory not in self._ready_dirs:
            paths.make_dirs_durable(self.root, directory)
            self._ready_dirs.add(directory)
        try:
            os.replace(source, self.root / relpath)
        except FileNotFoundError:
            self._ready_dirs.discard(directory)
            paths.make_dirs_durable(self.root, directory)
            os.replace(source, self.root / relpath)

    def path_of(self, item: StoredInstance | str) -> Path:
        """Return the absolute path of an indexed instance's file.

        Parameters
        ----------
        item : StoredInstance or str
            An instance, or its path relative to the store root.

        Raises
        ------
        StoreError
            If the recorded path would leave ``root/objects``.
        """
        relpath = item.path if isinstance(item, StoredInstance) else item
        return paths.resolve_object(self.root, relpath)

    def begin(
        self,
        *,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax_uid: str,
        calling_ae: str,
    ) -> IncomingFile:
        """Start receiving one data set.

        Parameters
        ----------
        sop_class_uid, sop_instance_uid : str
            Affected SOP Class/Instance UID of the C-STORE-RQ (PS3.7 9.1.1.1).
        transfer_syntax_uid : str
            The accepted presentation context's transfer syntax.
        calling_ae : str
            The peer's AE title, recorded as Source Application Entity Title.

        Returns
        -------
        IncomingFile
            Write the data set bytes to it, then commit or abort it.

        Raises
        ------
        StoreFullError
            If free space is below ``min_free_bytes`` or the disk is full.
        DatasetParseError
            If a UID of the command cannot be a UID (empty, too long, not printable
            ASCII); such a value could not be written as file meta.
        StoreError
            If the temp file cannot be created.
        """
        paths.check_free_space(self.tmp_dir, self.min_free_bytes)
        return IncomingFile(
            self,
            sop_class_uid=check_uid("Affected SOP Class UID", sop_class_uid),
            sop_instance_uid=check_uid("Affected SOP Instance UID", sop_instance_uid),
            transfer_syntax_uid=check_uid("Transfer Syntax UID", transfer_syntax_uid),
            calling_ae=sanitize_ae(calling_ae),
        )


class IncomingFile:
    """One data set being received into the store; made by :meth:`Store.begin`.

    Use :meth:`write` for every fragment, then exactly one of :meth:`commit` or
    :meth:`abort`. It is also a context manager that aborts on exit unless committed.

    Attributes
    ----------
    path : Path
        The temporary file under ``root/tmp`` (gone after commit or abort).
    size : int
        Bytes written so far, preamble and file meta included.
    sop_class_uid, sop_instance_uid, transfer_syntax_uid, calling_ae : str
        As given to :meth:`Store.begin`, padding stripped.
    """

    def __init__(
        self,
        store: Store,
        *,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax_uid: str,
        calling_ae: str,
    ) -> None:
        self.store = store
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid
        self.transfer_syntax_uid = transfer_syntax_uid
        self.calling_ae = calling_ae
        self.path = paths.new_temp_path(store.root)
        self._state = _State.OPEN
        self._error: StoreError | None = None
        self._unchecked = 0
        self._head = bytearray()  # the data set's first bytes, for the fast scan
        self._reader: BinaryIO | None = None
        self._final: Path | None = None
        #: What the index will record, once checked, fsynced and renamed.
        self.record: InstanceRecord | None = None
        header = PREAMBLE + file_meta_bytes(
            sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid,
            transfer_syntax_uid=transfer_syntax_uid,
            calling_ae=calling_ae,
        )
        self._dataset_offset = len(header)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise paths.translate_os_error(exc, "cannot create a temp file") from exc
        try:
            paths.lock_temp(fd)
            # Lives until commit() or abort(), which close it.
            self._file = open(fd, "wb", buffering=_BUFFER)  # noqa: SIM115
        except OSError as exc:
            os.close(fd)
            paths.unlink_quietly(self.path)
            raise paths.translate_os_error(exc, "cannot open a temp file") from exc
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.write(header)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()

    # -- receiving ----------------------------------------------------------------

    def _discard(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        self._close_reader()
        paths.unlink_quietly(self.path)

    def _fail(self, error: StoreError) -> StoreError:
        self._discard()
        self._state = _State.FAILED
        self._error = error
        return error

    def _check_open(self) -> None:
        if self._state is not _State.OPEN:
            if self._error is not None:
                raise type(self._error)(str(self._error))
            raise StoreError(f"incoming file is {self._state.value}; nothing more can be done")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append received data set bytes, exactly as they came off the wire.

        Cheap enough for the event loop: a buffered write and a SHA-256 update; free
        space is re-checked once per :data:`CHECK_FREE_EVERY` bytes.

        Raises
        ------
        StoreFullError
            Disk or quota full, or free space fell below the floor (temp file removed).
        StoreError
            Any other write failure (temp file removed).
        """
        self._check_open()
        try:
            self._file.write(data)
        except OSError as exc:
            raise self._fail(paths.translate_os_error(exc, "writing a received data set")) from exc
        self._sha256.update(data)
        length = len(data) if not isinstance(data, memoryview) else data.nbytes
        room = HEAD_BYTES - len(self._head)
        if room > 0 and self.size >= self._dataset_offset:
            self._head += data[:room]
        self.size += length
        limit = self.store.max_instance_bytes
        if limit and self.size > limit:
            raise self._fail(InstanceTooLargeError(
                f"instance larger than max_instance_mb={limit // 1_000_000} MB; "
                "raise max_instance_mb / PACSLINK_MAX_INSTANCE_MB to accept it")) from None
        self._unchecked += length
        if self._unchecked >= CHECK_FREE_EVERY:
            self._unchecked = 0
            try:
                paths.check_free_space(self.store.tmp_dir, self.store.min_free_bytes)
            except StoreError as exc:
                raise self._fail(exc) from None

    def abort(self) -> None:
        """Drop the file (association aborted, peer gone...). Safe to call repeatedly."""
        if self._state is _State.OPEN:
            self._discard()
            self._state = _State.ABORTED

    # -- committing ---------------------------------------------------------------

    def commit(self) -> IngestResult:
        """Check, persist and index the received instance. Blocking: run it in a thread.

        Returns
        -------
        IngestResult
            The indexed instance; ``duplicate`` when the SOP Instance UID was already
            held (under ``KEEP`` the first copy stays and the new bytes are dropped).

        Raises
        ------
        DatasetParseError
            The bytes are not a data set (or break a bound).
        DatasetMismatchError
            The data set's SOP Class/Instance UID differ from the command's.
        StoreFullError
            The disk filled up.
        StoreError
            Any other file-system or index failure.
        """
        [outcome] = self.store.commit_batch([self])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def commit_async(self) -> Awaitable[IngestResult]:
        """:meth:`commit` for the event loop, through the store's group committer.

        Instances received at the same time on other associations are committed with
        this one (one fsync per directory, one index transaction); the awaitable
        resolves only once this instance is on disk and in the index. While the
        committer is busy, this instance's own checks, file fsync and rename run in a
        worker thread meanwhile, in parallel with the other associations' (the file
        system joins concurrent fsyncs), and the committer only finishes it.

        With ``sync = never`` on a SQLite index, a commit is CPU work and page-cache
        writes, like receiving the data set was: it is done right here, on the event
        loop, when the committer is idle and the index's write lock is free (tried, not
        waited for), saving two thread hand-offs per instance.
        """
        store = self.store
        outcome = store.commit_now(self) if store.sync is SyncMode.NEVER else None
        if outcome is not None:
            future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
            return future
        if store.committer.idle:
            return store.committer.submit(self)
        return self._prepare_then_submit()

    async def _prepare_then_submit(self) -> IngestResult:
        await asyncio.to_thread(self._prepare)
        return await self.store.committer.submit(self)

    def _read_values(self) -> dict[str, Value]:
        """Check the received data set and return the attributes the index records."""
        store = self.store
        size = self.size - self._dataset_offset
        if self.transfer_syntax_uid != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
            raw = scan(self._head, self._read_at, size, *encoding_of(self.transfer_syntax_uid))
            if raw is not None:
                return values_from_raw(raw, encoding_of(self.transfer_syntax_uid)[1])
        # the unusual cases: the full parser and the structure check decide
        with open(self.path, "rb") as fp:
            fp.seek(self._dataset_offset)
            header = parse_header(
                fp, self.transfer_syntax_uid, max_inflated_bytes=store.max_inflated_bytes
            )
            if self.transfer_syntax_uid != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
                # a data set cut short (inside its pixels, say) is not stored as success
                check_structure(fp, self._dataset_offset, self.size,
                                *encoding_of(self.transfer_syntax_uid))
        return values_from_dataset(header)

    def _read_at(self, offset: int, size: int) -> bytes:
        if self._reader is None:
            self._reader = open(self.path, "rb")  # noqa: SIM115 - closed in _close_reader
        self._reader.seek(self._dataset_offset + offset)
        return self._reader.read(size)

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _prepare(self) -> InstanceRecord:
        """Commit steps 1-3 but the directory fsync: checked, fsynced, renamed.

        The record is also kept in :attr:`record`. On failure the instance is failed,
        its files removed, and the error raised.
        """
        self._check_open()
        store = self.store
        try:
            self._file.flush()
            try:
                values = self._read_values()
            finally:
                self._close_reader()
            self._check_uids(values["SOPClassUID"], values["SOPInstanceUID"])
            # Duplicates under KEEP are caught by the index's unique key: no extra query
            # before the file is in place, for the common case of a new instance.
            if store.sync is SyncMode.DURABLE:
                os.fsync(self._file.fileno())
            self._file.close()
            relpath = paths.new_object_relpath()
            final = store.root / relpath
            store.move_into_objects(self.path, relpath)
            self._final = final
            self.record = InstanceRecord(
                values=values,
                path=str(relpath),
                size=self.size,
                sha256=self._sha256.hexdigest(),
                transfer_syntax_uid=self.transfer_syntax_uid,
                calling_ae=self.calling_ae,
                received_at=datetime.now(UTC),
            )
            return self.record
        except BaseException as exc:
            error = self._failed(exc)
            if error is exc:
                raise
            raise error from exc

    def _failed(self, exc: BaseException) -> BaseException:
        """Fail the instance after ``exc``: remove its files; return what to raise."""
        if self._final is not None:
            paths.unlink_quietly(self._final)
        if isinstance(exc, StoreError):
            return self._fail(exc)
        if isinstance(exc, OSError):
            return self._fail(paths.translate_os_error(exc, "storing a received data set"))
        self._fail(StoreError("storing a received data set failed"))
        return exc

    def _indexed(self, record: InstanceRecord, added: bool, old: StoredInstance | None,
                 ) -> IngestResult:
        """The last step, once the index has answered: a stored instance or a duplicate."""
        if not added:  # already held (or a parallel copy won)
            assert self._final is not None
            paths.unlink_quietly(self._final)
            existing = self.store.index.get_instance(self.sop_instance_uid)
            if existing is None:  # pragma: no cover - removed concurrently
                raise self._failed(StoreError(f"instance {self.sop_instance_uid} vanished"))
            return self._duplicate(existing)
        self._state = _State.DONE
        if old is not None:
            self._remove_replaced(old)
        logger.debug("stored instance %s (%d bytes)", self.sop_instance_uid, self.size)
        return IngestResult(
            record.to_stored_instance(), duplicate=old is not None, replaced=old is not None
        )

    def _check_uids(self, sop_class_uid: object, sop_instance_uid: object) -> None:
        if sop_class_uid != self.sop_class_uid or sop_instance_uid != self.sop_instance_uid:
            raise DatasetMismatchError(
                "data set does not match the C-STORE command: SOP Class UID "
                f"{sop_class_uid or '(none)'!s} vs {self.sop_class_uid}, SOP Instance UID "
                f"{sop_instance_uid or '(none)'!s} vs {self.sop_instance_uid}"
            )

    def _duplicate(self, existing: StoredInstance) -> IngestResult:
        self._discard()
        self._state = _State.DONE
        logger.info(
            "duplicate SOP Instance UID %s from %s: kept the first copy",
            self.sop_instance_uid,
            self.calling_ae,
        )
        return IngestResult(existing, duplicate=True)

    def _remove_replaced(self, old: StoredInstance) -> None:
        try:
            self.store.path_of(old).unlink()
        except (OSError, StoreError) as exc:
            logger.warning("could not remove replaced file %s: %s", old.path, exc)
        logger.info("replaced instance %s with a new copy", self.sop_instance_uid)


__all__ = ["CHECK_FREE_EVERY", "HEAD_BYTES", "IncomingFile", "Store"]
