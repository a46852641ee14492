"""The on-disk layout of the local store, and the file-system primitives it relies on.

::

    <root>/
      objects/ab/cd/<32 hex digits>.dcm   one DICOM Part 10 file per instance
      tmp/<32 hex digits>.part            files being received (same file system)

Every file name is generated here from :func:`uuid.uuid4`. Nothing a peer sends (UIDs,
AE titles, Patient IDs) ever becomes part of a path: every PACS toolkit we studied has
shipped a path-traversal bug by doing so. Paths read back from the index are checked to
stay inside ``objects/`` before they are opened (:func:`resolve_object`), so a tampered
index cannot make pacslink read or delete files elsewhere.

A temporary file is *in use* while the process receiving it holds an exclusive
:func:`fcntl.flock` on it. The kernel drops the lock when that process dies, however it
dies, so a temp file that can be locked is a leftover of a crash (:func:`is_stale`). Where
``fcntl`` is missing, temp files older than :data:`STALE_AGE_SECONDS` count as stale.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from pathlib import Path, PurePosixPath

from pacslink.errors import StoreError, StoreFullError

try:  # POSIX only; Windows falls back to the age rule.
    import fcntl
except ImportError:  # pragma: no cover - not reached on Linux or macOS
    fcntl = None  # type: ignore[assignment]

OBJECTS_DIR = "objects"
TMP_DIR = "tmp"
OBJECT_SUFFIX = ".dcm"
TEMP_SUFFIX = ".part"

#: Without ``fcntl``, a temp file this old is assumed abandoned.
STALE_AGE_SECONDS = 24 * 3600

#: ``errno`` values that mean "no room": the disk or the user's quota is full.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def new_object_relpath() -> PurePosixPath:
    """Return a fresh path for an instance file, relative to the store root.

    Returns
    -------
    PurePosixPath
        ``objects/<2 hex>/<32 hex>.dcm``, from a random UUID. The 256 directories
        exist from the start (:func:`prepare_object_dirs`), so storing an instance never
        creates a directory on the hot path; each holds ~4,000 files per million.
    """
    name = uuid.uuid4().hex
    return PurePosixPath(OBJECTS_DIR, name[:2], name + OBJECT_SUFFIX)


def prepare_object_dirs(root: Path) -> None:
    """Create ``objects/00`` ... ``objects/ff`` durably if they are missing."""
    objects = root / OBJECTS_DIR
    created = False
    for i in range(256):
        directory = objects / f"{i:02x}"
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            created = True
    if created:
        fsync_dir(objects)


def new_temp_path(root: Path) -> Path:
    """Return a fresh temporary file path under ``<root>/tmp``."""
    return root / TMP_DIR / (uuid.uuid4().hex + TEMP_SUFFIX)


def resolve_object(root: Path, relpath: str) -> Path:
    """Turn a relative path from the index into an absolute path inside ``objects/``.

    Parameters
    ----------
    root : Path
        The store root (absolute).
    relpath : str
        A path as recorded in the index, e.g. ``objects/ab/cd/<hex>.dcm``.

    Returns
    -------
    Path
        The absolute path.

    Raises
    ------
    StoreError
        If the path is absolute, contains ``..`` or otherwise leaves ``<root>/objects``.
    """
    pure = PurePosixPath(relpath)
    objects = (root / OBJECTS_DIR).resolve()
    candidate = (root / Path(*pure.parts)).resolve() if pure.parts else objects
    if pure.is_absolute() or ".." in pure.parts or not candidate.is_relative_to(objects):
        raise StoreError(
            f"index path {relpath!r} is outside the store; run 'pacslink store verify'"
        )
    if candidate == objects:
        raise StoreError(f"index path {relpath!r} names no file")
    return candidate


def free_bytes(path: Path) -> int:
    """Return the bytes available to this user on the file system holding ``path``."""
    try:
        return shutil.disk_usage(path).free
    except OSError as exc:
        raise StoreError(f"cannot read free space of {path}: {exc.strerror}") from exc


#: Bytes in the MB of the ``min_free_mb`` setting (SI: 10**6, as ``df -H`` counts).
MB = 1_000_000


def check_free_space(path: Path, min_free_bytes: int) -> None:
    """Raise :class:`StoreFullError` if less than ``min_free_bytes`` are available.

    Parameters
    ----------
    path : Path
        Any path on the store's file system.
    min_free_bytes : int
        The configured floor: the ``min_free_mb`` setting times :data:`MB`.
    """
    available = free_bytes(path)
    if available < min_free_bytes:
        # What matters comes first: a peer sees only 64 characters (Error Comment, LO).
        raise StoreFullError(
            f"only {available // MB} MB free, below min_free_mb={min_free_bytes // MB} MB; "
            f"free space in {path} or lower min_free_mb / PACSLINK_MIN_FREE_MB"
        )


def translate_os_error(exc: OSError, what: str) -> StoreError:
    """Map an :class:`OSError` to :class:`StoreFullError` or :class:`StoreError`."""
    if exc.errno in NO_SPACE_ERRNOS:
        return StoreFullError(f"{what}: no space left ({exc.strerror}); free some space")
    return StoreError(f"{what}: {exc.strerror or exc}")


def lock_temp(fd: int) -> None:
    """Mark an open temporary file as in use by this process (see the module docstring)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_stale(path: Path) -> bool:
    """Return ``True`` if no live process is receiving into the temp file ``path``.

    Parameters
    ----------
    path : Path
        A file under ``<root>/tmp``.

    Returns
    -------
    bool
        ``True`` if the file can be locked (its writer is gone), or without ``fcntl``
        when it is older than :data:`STALE_AGE_SECONDS`. ``False`` if it vanished.
    """
    if fcntl is None:  # pragma: no cover - not reached on Linux or macOS
        try:
            return time.time() - path.stat().st_mtime > STALE_AGE_SECONDS
        except FileNotFoundError:
            return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # also releases the lock we may have taken
    return True


def stale_temp_files(root: Path) -> list[Path]:
    """Return the temp files under ``<root>/tmp`` whose writer is gone."""
    tmp = root / TMP_DIR
    try:
        entries = sorted(tmp.iterdir())
    except FileNotFoundError:
        return []
    return [p for p in entries if p.is_file() and not p.is_symlink() and is_stale(p)]


def unlink_quietly(path: Path) -> None:
    """Remove ``path`` if it exists; never raises (used on error paths)."""
    try:
        path.unlink()
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries to disk so a rename or create survives power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_durable(base: Path, relative: PurePosixPath) -> Path:
    """Create the directories ``base / relative`` and fsync the parent of each new one.

    Parameters
    ----------
    base : Path
        An existing directory (the store root).
    relative : PurePosixPath
        The directory chain to create below ``base``.

    Returns
    -------
    Path
        The innermost directory.
    """
    current = base
    for part in relative.parts:
        parent, current = current, current / part
        if current.is_symlink():
            raise StoreError(f"refusing to store through the symbolic link {current}; "
                             "the store must contain only real directories")
        if not current.is_dir():
            os.makedirs(current, exist_ok=True)
            fsync_dir(parent)
    return current


__all__ = [
    "MB",
    "OBJECTS_DIR",
    "TMP_DIR",
    "check_free_space",
    "free_bytes",
    "fsync_dir",
    "is_stale",
    "lock_temp",
    "make_dirs_durable",
    "new_object_relpath",
    "prepare_object_dirs",
    "new_temp_path",
    "resolve_object",
    "stale_temp_files",
    "translate_os_error",
    "unlink_quietly",
]
