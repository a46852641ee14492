"""Start-up reconciliation: after a crash, make the files and the index agree again.

A received instance is acknowledged only once its file is renamed into ``objects/`` *and*
its index row is committed (:mod:`pacslink.store.ingest`). A process killed between the
two leaves a file without a row: that instance was never acknowledged, so the sender
still holds it and sends it again. A row without a file cannot come from a crash given
that order (the file is durable before the row is written); it means files were removed
behind pacslink's back. When a process opens the store, :func:`open_session`:

1. checks the SQLite index with ``PRAGMA integrity_check`` and refuses to go on (with
   :class:`~pacslink.errors.StoreError` saying how to recover) if it is damaged: a damaged
   index could make every file look unindexed (skipped for PostgreSQL, whose server
   checks its own pages);
2. if no other pacslink process has the store open (:class:`StoreLease`), compares the
   files with the index:

   - files under ``objects/`` without a row are *moved*, never deleted and never followed
     if they are symbolic links, to ``quarantine/<UTC timestamp>/objects/...``, with a
     ``reconcile.txt`` listing them;
   - rows whose file is missing are removed (empty series, studies and patients with
     them) and listed in ``reconcile.txt``;
   - unless so many differ that the disk looks absent or the index looks like another
     store's (:data:`MASS_MISMATCH`): then nothing is changed and an ERROR says so;
   - temp files of dead writers are removed.

What it found is logged at WARNING (``pacslink listen`` prints it); a clean store costs
one directory walk and one read of the ``path`` column.

Another process that has the store open may be between the rename and the commit of an
instance it is receiving: its new file has no row *yet*. So every process holds a shared
:func:`fcntl.flock` on ``<store>/store.lock`` for as long as it has the store open, and
files are compared only by a process that got the lock exclusively. The kernel drops the
lock of a dead process, however it died.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import sqlalchemy as sa

from pacslink.errors import StoreError
from pacslink.store import paths
from pacslink.store.index import Index
from pacslink.store.schema import instance, patient, series, study

try:  # POSIX only; without it every process behaves as if it were not alone.
    import fcntl
except ImportError:  # pragma: no cover - not reached on Linux or macOS
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

LOCK_NAME = "store.lock"
QUARANTINE_DIR = "quarantine"
REPORT_NAME = "reconcile.txt"

#: Nothing is changed when more than this many *and* more than this share of all rows
#: lack their file (the store's disk is probably not mounted), or of all files lack a
#: row (the index is probably another store's). A crash leaves a few orphans: one per
#: instance being committed when it struck.
MASS_MISMATCH = (10, 0.10)

_CHUNK = 500


class StoreLease:
    """This process's claim on a store directory: a lock on ``<root>/store.lock``.

    Held shared while the store is open, so a starting process can tell whether it is
    alone (:meth:`try_exclusive`). Without :mod:`fcntl` a process never counts as alone.

    Parameters
    ----------
    root : Path
        The store directory (created if missing).

    Raises
    ------
    StoreError
        If the lock file cannot be created.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise paths.translate_os_error(exc, f"cannot open the store lock {self.path}") from exc
        self.exclusive = False
        # A store opened and never closed releases its lease when garbage-collected.
        self._finalizer = weakref.finalize(self, os.close, self._fd)

    def try_exclusive(self) -> bool:
        """Take the lock exclusively if no other process holds it; return whether taken."""
        if fcntl is None or self._fd is None:  # pragma: no cover - not reached on POSIX
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        self.exclusive = True
        return True

    def share(self) -> None:
        """Hold the lock shared (waiting for a reconciliation running elsewhere to end)."""
        if fcntl is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
        self.exclusive = False

    def close(self) -> None:
        """Release the lock. Safe to call twice."""
        if self._fd is not None:
            self._finalizer()  # closes the descriptor, once
            self._fd = None


@dataclass(frozen=True)
class ReconcileReport:
    """What :func:`reconcile` found and did.

    Attributes
    ----------
    compared : bool
        Whether files and rows were compared (``False``: another process had the store
        open, or the lock is unavailable on this platform).
    files, rows : int
        Entries found under ``objects/`` and rows in the index.
    quarantined : tuple of str
        Files without a row, as paths relative to the store root *before* the move.
    quarantine_dir : Path or None
        Where they were moved (with ``reconcile.txt``), if anywhere.
    removed_rows : tuple of str
        SOP Instance UIDs whose rows were removed because their file was missing.
    kept_missing : int
        Rows without a file left alone (too many: see :data:`MASS_MISMATCH`; or a path
        outside ``objects/``, which ``pacslink store verify`` reports).
    kept_orphans : int
        Files without a row left alone (too many: see :data:`MASS_MISMATCH`).
    stale_temp : int
        Temp files of dead writers removed.
    seconds : float
        Time taken, integrity check included.
    """

    compared: bool
    files: int = 0
    rows: int = 0
    quarantined: tuple[str, ...] = ()
    quarantine_dir: Path | None = None
    removed_rows: tuple[str, ...] = ()
    kept_missing: int = 0
    kept_orphans: int = 0
    stale_temp: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        """``True`` when nothing needed doing."""
        return not (self.quarantined or self.removed_rows or self.kept_missing
                    or self.kept_orphans or self.stale_temp)


# -- checks ---------------------------------------------------------------------------


def check_integrity(index: Index) -> None:
    """Run ``PRAGMA integrity_check`` on a SQLite index; do nothing for PostgreSQL.

    Raises
    ------
    StoreError
        If the database reports anything but ``ok``; the message says how to recover.
    """
    engine = index.engine
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as conn:
            found = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        found = [(str(orig).splitlines() or [type(orig).__name__])[0]]
    if found == ["ok"]:
        return
    where = engine.url.database or "(in memory)"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise StoreError(
        f"the index database {where} is damaged: {found[0]}{more}. Nothing was changed. "
        "Stop every pacslink process, keep a copy of the file, restore it from a backup "
        "(or rebuild it with sqlite3's .recover), then run 'pacslink store verify'"
    )


def _object_entries(root: Path) -> Iterator[str]:
    """Every non-directory entry under ``root/objects`` as a root-relative POSIX path.

    Symbolic links are listed themselves, never followed (a link to a directory is an
    entry, not a directory).
    """
    stack = [paths.OBJECTS_DIR]
    while stack:
        rel = stack.pop()
        try:
            entries = os.scandir(root / rel)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                child = f"{rel}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append(child)
                else:
                    yield child


def _indexed(index: Index) -> Iterator[tuple[int, str, str]]:
    """``(pk, path, SOP Instance UID)`` of every instance row, a page at a time."""
    last = 0
    while True:
        with index.engine.connect() as conn:
            rows = conn.execute(
                sa.select(instance.c.pk, instance.c.path, instance.c.sop_instance_uid)
                .where(instance.c.pk > last).order_by(instance.c.pk).limit(_CHUNK)
            ).all()
        yield from ((int(r.pk), str(r.path), str(r.sop_instance_uid)) for r in rows)
        if len(rows) < _CHUNK:
            return
        last = int(rows[-1].pk)


def _inside_objects(relpath: str) -> str | None:
    """The normalised form of an index path, or ``None`` if it leaves ``objects/``."""
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or ".." in pure.parts or pure.parts[:1] != (paths.OBJECTS_DIR,):
        return None
    return pure.as_posix()


# -- repairs --------------------------------------------------------------------------


def _new_quarantine_dir(root: Path) -> Path:
    base = root / QUARANTINE_DIR
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        target = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            target.mkdir(parents=True)
        except FileExistsError:
            continue
        paths.fsync_dir(base)
        return target
    raise StoreError(f"cannot create a new quarantine directory under {base}")


def _quarantine_into(root: Path, target: Path, orphans: list[str]) -> list[str]:
    """Move ``orphans`` (root-relative) below ``target``, keeping their relative paths;
    return the ones moved. One that cannot be moved is logged and left where it is."""
    moved: list[str] = []
    touched: set[Path] = set()
    for rel in orphans:
        source, dest = root / rel, target / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, dest)  # a symbolic link moves as a link
        except OSError as exc:
            logger.warning("could not move %s to the quarantine: %s", source, exc.strerror or exc)
            continue
        moved.append(rel)
        touched.update((source.parent, dest.parent))
    for directory in touched:
        paths.fsync_dir(directory)
    return moved


def _remove_rows(index: Index, pks: list[int]) -> None:
    """Delete instance rows, then the series, studies and patients they leave empty."""
    try:
        with index.engine.connect() as conn, conn.begin():
            series_pks: set[int] = set()
            for start in range(0, len(pks), _CHUNK):
                chunk = pks[start:start + _CHUNK]
                series_pks.update(conn.execute(
                    sa.select(instance.c.series_pk).where(instance.c.pk.in_(chunk))).scalars())
                conn.execute(sa.delete(instance).where(instance.c.pk.in_(chunk)))
            levels = ((series, instance.c.series_pk, series.c.study_pk),
                      (study, series.c.study_pk, study.c.patient_pk),
                      (patient, study.c.patient_pk, None))
            affected = sorted(series_pks)
            for table, child_fk, parent_fk in levels:
                parents: set[int] = set()
                for start in range(0, len(affected), _CHUNK):
                    chunk = affected[start:start + _CHUNK]
                    empty = (table.c.pk.in_(chunk)
                             & ~sa.exists().where(child_fk == table.c.pk))
                    if parent_fk is not None:
                        parents.update(conn.execute(
                            sa.select(parent_fk).where(empty)).scalars())
                    conn.execute(sa.delete(table).where(empty))
                affected = sorted(parents)
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).splitlines() or [type(orig).__name__])[0]
        raise StoreError(f"index database error while removing rows without files: {first}") \
            from exc


def _write_report(target: Path, moved: list[str], removed: list[tuple[str, str]]) -> None:
    lines = ["# pacslink start-up reconciliation, " + datetime.now(UTC).isoformat()]
    lines += [f"quarantined {rel}" for rel in moved]
    lines += [f"removed-row {uid} {rel}" for uid, rel in removed]
    with open(target / REPORT_NAME, "w", encoding="utf-8") as fp:
        fp.write("\n".join(lines) + "\n")
        fp.flush()
        os.fsync(fp.fileno())


# -- the whole pass -------------------------------------------------------------------


def reconcile(root: Path, index: Index) -> ReconcileReport:
    """Compare the files under ``root/objects`` with the index and repair what differs.

    Call it only while holding the store's lease exclusively (:func:`open_session`
    does): a file another process is committing would be taken for an orphan.

    Parameters
    ----------
    root : Path
        The store directory.
    index : Index
        Its index.

    Returns
    -------
    ReconcileReport
        What was found and done (``seconds`` excludes the integrity check).

    Raises
    ------
    StoreError
        If the index cannot be read or written, or the quarantine cannot be created.
    """
    started = time.perf_counter()
    stale = paths.stale_temp_files(root)
    for path in stale:
        paths.unlink_quietly(path)
    files = set(_object_entries(root))
    total_files = len(files)
    rows = 0
    missing: list[tuple[int, str, str]] = []
    through: set[str] = set()  # symbolic links to directories that rows go through
    unsafe = 0
    for pk, relpath, uid in _indexed(index):
        rows += 1
        if relpath in files:  # the usual case: the path as the store wrote it
            files.discard(relpath)
            continue
        normal = _inside_objects(relpath)
        if normal is None:
            unsafe += 1
        elif normal in files:
            files.discard(normal)
        elif os.path.lexists(root / normal):  # reached through a linked directory
            through.update(p.as_posix() for p in PurePosixPath(normal).parents)
        else:
            missing.append((pk, normal, uid))
    orphans = sorted(files - through)
    mass, share = MASS_MISMATCH
    keep = (len(missing) > mass and len(missing) > share * rows) or (
        len(orphans) > mass and len(orphans) > share * total_files)
    if keep:
        logger.error(
            "%d of %d indexed files are missing and %d of %d files have no index row under "
            "%s: is the store's disk mounted, and is db_url the index of this store_dir? "
            "Nothing was changed; run 'pacslink store verify' to list them",
            len(missing), rows, len(orphans), total_files, root / paths.OBJECTS_DIR)
    target: Path | None = None
    moved: list[str] = []
    removed: list[tuple[str, str]] = []
    if not keep and (orphans or missing):
        target = _new_quarantine_dir(root)
        moved = _quarantine_into(root, target, orphans)
        if missing:
            _remove_rows(index, [pk for pk, _, _ in missing])
            removed = [(uid, rel) for _, rel, uid in missing]
        _write_report(target, moved, removed)
    if unsafe:
        logger.warning("%d index row(s) name a file outside %s; run 'pacslink store verify'",
                       unsafe, root / paths.OBJECTS_DIR)
    return ReconcileReport(
        compared=True, files=total_files, rows=rows, quarantined=tuple(moved),
        quarantine_dir=target, removed_rows=tuple(uid for uid, _ in removed),
        kept_missing=(len(missing) if keep else 0) + unsafe,
        kept_orphans=len(orphans) if keep else 0, stale_temp=len(stale),
        seconds=time.perf_counter() - started)


class StoreSession:
    """A process's open store: its :class:`StoreLease` and the start-up report.

    Made by :func:`open_session`; :meth:`close` it when the store is closed.
    """

    def __init__(self, lease: StoreLease, report: ReconcileReport) -> None:
        self.lease = lease
        self.report = report

    def close(self) -> None:
        """Release the lease."""
        self.lease.close()


def open_session(root: Path, index: Index) -> StoreSession:
    """Open the store for this process: lease it, check the index, reconcile if alone.

    Call it when the store is opened, before this process writes anything into it (its
    own new files would have no rows yet).

    Parameters
    ----------
    root : Path
        The store directory (created if missing).
    index : Index
        Its index.

    Returns
    -------
    StoreSession
        Holding the lease (shared from now on) and the :class:`ReconcileReport`.

    Raises
    ------
    StoreError
        The index is damaged (nothing was changed; the message says how to recover), or
        the store cannot be read or repaired.
    """
    started = time.perf_counter()
    root = Path(root).resolve()
    lease = StoreLease(root)
    try:
        check_integrity(index)  # first: a damaged index would make files look like orphans
        if lease.try_exclusive():
            try:
                report = reconcile(root, index)
            finally:
                lease.share()
        else:
            lease.share()
            report = ReconcileReport(compared=False)
            logger.info("another pacslink process has the store %s open; its files are "
                        "compared with the index at a start without it", root)
    except OSError as exc:
        lease.close()
        raise paths.translate_os_error(exc, f"checking the store {root} at start") from exc
    except BaseException:
        lease.close()
        raise
    report = replace(report, seconds=time.perf_counter() - started)
    log_report(report)
    return StoreSession(lease, report)


def log_report(report: ReconcileReport) -> None:
    """Log what reconciliation did: WARNING if anything, DEBUG otherwise."""
    parts = []
    if report.quarantined:
        parts.append(f"{len(report.quarantined)} file(s) without an index row moved to "
                     f"{report.quarantine_dir or 'the quarantine'} (never acknowledged to their "
                     "senders; safe to delete once you have looked at them)")
    if report.removed_rows:
        parts.append(f"{len(report.removed_rows)} index row(s) without a file removed")
    if report.stale_temp:
        parts.append(f"{report.stale_temp} stale temporary file(s) removed")
    if parts:
        logger.warning("store check after an unclean stop: %s", ", ".join(parts))
    if report.removed_rows:
        logger.warning(
            "%d stored instance(s) had lost their file and left the index (SOP Instance "
            "UIDs in %s); ask their senders to send them again",
            len(report.removed_rows), Path(str(report.quarantine_dir)) / REPORT_NAME)
    logger.debug("store check: %d file(s), %d index row(s), %.0f ms",
                 report.files, report.rows, report.seconds * 1000)


__all__ = [
    "LOCK_NAME",
    "MASS_MISMATCH",
    "QUARANTINE_DIR",
    "REPORT_NAME",
    "ReconcileReport",
    "StoreLease",
    "StoreSession",
    "check_integrity",
    "open_session",
    "reconcile",
]
