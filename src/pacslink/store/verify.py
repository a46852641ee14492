"""``pacslink store verify``: check that the files and the index agree.

For every index row: the file exists inside ``objects/``, has the recorded size and
SHA-256, parses as DICOM Part 10 (bounded, like ingest) and holds the SOP Instance UID of
its row. Then every file under ``objects/`` without a row is an orphan, and every temp
file whose writer is gone is stale. Nothing is repaired: the report says what to look at.

A file committed while verification runs can show up as an orphan (its row was not yet
visible when the index was read); run verify again to tell.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from pacslink.errors import DatasetParseError, StoreError
from pacslink.models import StoredInstance, VerifyIssue, VerifyProblem, VerifyReport
from pacslink.store import paths
from pacslink.store.ingest import Store
from pacslink.store.parse import read_part10_header
from pacslink.store.reconcile import QUARANTINE_DIR
from pacslink.store.record import clean_text

logger = logging.getLogger(__name__)

_CHUNK = 2**20


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_one(store: Store, item: StoredInstance) -> VerifyIssue | None:
    def issue(problem: VerifyProblem, detail: str) -> VerifyIssue:
        return VerifyIssue(problem, item.path, item.sop_instance_uid, detail)

    try:
        path = store.path_of(item)
    except StoreError as exc:
        return issue(VerifyProblem.UNSAFE_PATH, str(exc))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return issue(VerifyProblem.MISSING, "file not found")
    except OSError as exc:
        return issue(VerifyProblem.MISSING, f"cannot stat: {exc.strerror}")
    if size != item.size:
        return issue(VerifyProblem.SIZE_MISMATCH, f"{size} bytes on disk, {item.size} recorded")
    try:
        if sha256_of(path) != item.sha256:
            return issue(VerifyProblem.HASH_MISMATCH, "content differs from what was received")
        _, header, _ = read_part10_header(path, max_inflated_bytes=store.max_inflated_bytes)
    except DatasetParseError as exc:
        return issue(VerifyProblem.UNREADABLE, str(exc))
    except OSError as exc:
        return issue(VerifyProblem.MISSING, f"cannot read: {exc.strerror}")
    found = clean_text(str(header.get("SOPInstanceUID", "") or ""))
    if found != item.sop_instance_uid:
        return issue(VerifyProblem.UID_MISMATCH, f"file holds SOP Instance UID {found or '(none)'}")
    return None


def _object_files(objects: Path) -> Iterator[Path]:
    for directory, _dirs, files in os.walk(objects):
        for name in files:
            yield Path(directory, name)


def verify(store: Store) -> VerifyReport:
    """Check every indexed file, then look for orphans and stale temp files.

    Parameters
    ----------
    store : Store
        The store to check. Its files are only read.

    Returns
    -------
    VerifyReport
        ``checked`` index rows and every issue found (``report.ok`` when none).

    Raises
    ------
    StoreError
        If the index cannot be read.
    """
    issues: list[VerifyIssue] = []
    indexed: set[str] = set()
    checked = 0
    for item in store.index.iter_instances():
        checked += 1
        indexed.add(item.path)
        problem = _check_one(store, item)
        if problem is not None:
            issues.append(problem)
    for path in _object_files(store.objects_dir):
        relpath = path.relative_to(store.root).as_posix()
        if relpath not in indexed:
            issues.append(VerifyIssue(VerifyProblem.ORPHAN, relpath, "", "file has no index row"))
    for path in paths.stale_temp_files(store.root):
        relpath = path.relative_to(store.root).as_posix()
        issues.append(
            VerifyIssue(VerifyProblem.STALE_TEMP, relpath, "", "left by an interrupted transfer")
        )
    quarantine = store.root / QUARANTINE_DIR
    quarantined = sum(1 for p in quarantine.rglob("*.dcm")) if quarantine.is_dir() else 0
    logger.info("verified %d indexed instance(s): %d issue(s)", checked, len(issues))
    return VerifyReport(checked=checked, issues=tuple(issues), quarantined=quarantined)


__all__ = ["sha256_of", "verify"]
