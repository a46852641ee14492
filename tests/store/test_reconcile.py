"""Start-up reconciliation: what a crash (or a hand on the files) leaves, and how it is put right.

Each case opens the store the way every pacslink process does (:func:`open_session`),
then checks where the files are, which rows the index holds, what was logged, and that
``verify`` finds nothing left to report.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from pacslink.api import Pacslink
from pacslink.errors import StoreError
from pacslink.store import Index, Store, verify
from pacslink.store.reconcile import (
    LOCK_NAME,
    QUARANTINE_DIR,
    REPORT_NAME,
    StoreLease,
    open_session,
)
from tests.factory import make_ct
from tests.store.conftest import files_under, receive
from tests.store.test_crash import run_child

LOGGER = "pacslink.store.reconcile"


def object_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "objects").rglob("*")
                  if not p.is_dir() or p.is_symlink())


def quarantined(root: Path) -> list[str]:
    """Every entry below ``quarantine/<stamp>/``, as ``<stamp-less relative path>``."""
    base = root / QUARANTINE_DIR
    if not base.exists():
        return []
    return sorted("/".join(p.relative_to(base).parts[1:]) for p in base.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != REPORT_NAME)


def report_lines(root: Path) -> list[str]:
    return [line for report in sorted((root / QUARANTINE_DIR).glob(f"*/{REPORT_NAME}"))
            for line in report.read_text().splitlines() if not line.startswith("#")]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno >= logging.WARNING]


def test_clean_store_changes_nothing_and_logs_no_warning(
    tmp_path: Path, index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "store"
    store = Store(root, index)
    uids = [receive(store, make_ct()).instance.sop_instance_uid for _ in range(3)]
    before = object_files(store.root)
    caplog.set_level(logging.DEBUG, LOGGER)
    session = open_session(root, index)
    session.close()
    report = session.report
    assert report.compared and report.clean
    assert (report.files, report.rows) == (3, 3)
    assert object_files(store.root) == before
    assert not (store.root / QUARANTINE_DIR).exists()
    assert {i.sop_instance_uid for i in index.iter_instances()} == set(uids)
    assert warnings_of(caplog) == []
    assert any("store check: 3 file(s), 3 index row(s)" in r.getMessage() for r in caplog.records)


def test_kill_between_rename_and_commit_is_quarantined(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "store"
    run_child(root, sqlite_url, "before-index")  # dies after the rename, before the row
    orphan = object_files(root.resolve())
    assert len(orphan) == 1
    content = (root / orphan[0]).read_bytes()
    index = Index(sqlite_url)
    try:
        caplog.set_level(logging.INFO, LOGGER)
        session = open_session(root, index)
        session.close()
        report = session.report
        assert report.quarantined == (orphan[0],)
        assert report.removed_rows == () and report.stale_temp == 0
        # Moved, not deleted: same relative path below quarantine/<UTC stamp>/.
        assert object_files(root) == []
        assert quarantined(root) == orphan
        assert report.quarantine_dir is not None
        assert (report.quarantine_dir / orphan[0]).read_bytes() == content
        assert report_lines(root) == [f"quarantined {orphan[0]}"]
        assert index.get_instance("1.2.3.4.5.6") is None
        assert warnings_of(caplog) == [
            f"store check after an unclean stop: 1 file(s) without an index row moved to "
            f"{report.quarantine_dir} (never acknowledged to their senders; safe to delete "
            "once you have looked at them)"]
        checked = verify(Store(root, index))
        assert checked.ok and checked.quarantined == 1
    finally:
        index.close()


def test_kill_while_writing_leaves_a_temp_file_that_is_removed(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "store"
    run_child(root, sqlite_url, "during-write")
    assert len(files_under(root / "tmp")) == 1
    index = Index(sqlite_url)
    try:
        caplog.set_level(logging.WARNING, LOGGER)
        session = open_session(root, index)
        session.close()
        assert session.report.stale_temp == 1 and session.report.quarantined == ()
        assert files_under(root / "tmp") == [] and object_files(root) == []
        assert not (root / QUARANTINE_DIR).exists()
        assert warnings_of(caplog) == [
            "store check after an unclean stop: 1 stale temporary file(s) removed"]
    finally:
        index.close()


def test_row_without_file_is_removed_and_reported(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite and PostgreSQL: the row goes, and so do parents left empty; others stay."""
    root = tmp_path / "store"
    index = Index(db_url)
    try:
        store = Store(root, index)
        kept_series = make_ct()
        kept = receive(store, kept_series).instance
        lost_same_series = receive(store, make_ct(
            study_instance_uid=kept_series.StudyInstanceUID,
            series_instance_uid=kept_series.SeriesInstanceUID)).instance
        lost_alone = receive(store, make_ct(patient_id="GONE")).instance
        for item in (lost_same_series, lost_alone):
            store.path_of(item).unlink()
        caplog.set_level(logging.WARNING, LOGGER)
        session = open_session(root, index)
        session.close()
        report = session.report
        assert sorted(report.removed_rows) == sorted(
            [lost_same_series.sop_instance_uid, lost_alone.sop_instance_uid])
        assert report.quarantined == ()
        assert [i.sop_instance_uid for i in index.iter_instances()] == [kept.sop_instance_uid]
        assert [s.patient_id for s in index.list_studies()] == [kept.patient_id]
        assert index.list_studies()[0].instance_count == 1
        assert sorted(report_lines(root)) == sorted(
            f"removed-row {i.sop_instance_uid} {i.path}" for i in (lost_same_series, lost_alone))
        assert report.quarantine_dir is not None
        assert warnings_of(caplog)[1] == (
            "2 stored instance(s) had lost their file and left the index (SOP Instance UIDs "
            f"in {report.quarantine_dir / REPORT_NAME}); ask their senders to send them again")
        assert verify(store).ok
    finally:
        index.close()


def test_symbolic_links_are_moved_as_links_never_followed(
    tmp_path: Path, store: Store, index: Index
) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.dcm").write_bytes(b"not ours")
    (outside / "dir" / "inner.dcm").write_bytes(b"not ours either")
    (store.objects_dir / "ab" / "link-to-file.dcm").symlink_to(outside / "secret.dcm")
    (store.objects_dir / "cd" / "link-to-dir").symlink_to(outside / "dir")
    session = open_session(store.root, index)
    session.close()
    assert session.report.quarantined == (
        "objects/ab/link-to-file.dcm", "objects/cd/link-to-dir")
    moved = session.report.quarantine_dir
    assert moved is not None
    assert (moved / "objects/ab/link-to-file.dcm").is_symlink()
    assert os.readlink(moved / "objects/cd/link-to-dir") == str(outside / "dir")
    # The targets are untouched; nothing inside the linked directory was looked at.
    assert (outside / "secret.dcm").read_bytes() == b"not ours"
    assert sorted(p.name for p in outside.rglob("*")) == ["dir", "inner.dcm", "secret.dcm"]
    assert object_files(store.root) == []


def test_foreign_files_and_directories_are_quarantined(store: Store, index: Index) -> None:
    receive(store, make_ct())
    (store.objects_dir / "12" / "copied-in.dcm").write_bytes(b"x")
    (store.objects_dir / "old" / "deep").mkdir(parents=True)
    (store.objects_dir / "old" / "deep" / "f").write_bytes(b"y")
    session = open_session(store.root, index)
    session.close()
    assert session.report.quarantined == ("objects/12/copied-in.dcm", "objects/old/deep/f")
    assert quarantined(store.root) == ["objects/12/copied-in.dcm", "objects/old/deep/f"]
    assert verify(store).ok


def test_other_process_holding_the_store_means_files_are_left_alone(
    tmp_path: Path, store: Store, index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    """A file another live process is committing has no row yet: it must not move."""
    in_flight = store.objects_dir / "ef" / ("0" * 32 + ".dcm")
    in_flight.write_bytes(b"being committed by someone else")
    other = StoreLease(store.root)  # another opener of the store (a second lock holder)
    other.share()
    try:
        caplog.set_level(logging.INFO, LOGGER)
        session = open_session(store.root, index)
        session.close()
        assert not session.report.compared
        assert in_flight.is_file() and not (store.root / QUARANTINE_DIR).exists()
        assert warnings_of(caplog) == []
        assert any("another pacslink process has the store" in r.getMessage()
                   for r in caplog.records)
    finally:
        other.close()
    # Alone again, the next start does compare.
    session = open_session(store.root, index)
    session.close()
    assert session.report.quarantined == (in_flight.relative_to(store.root).as_posix(),)


def test_a_session_keeps_later_openers_from_comparing(store: Store, index: Index) -> None:
    first = open_session(store.root, index)
    try:
        second = open_session(store.root, index)
        second.close()
        assert first.report.compared and not second.report.compared
    finally:
        first.close()
    assert (store.root / LOCK_NAME).is_file()


def test_mass_missing_files_change_nothing(
    tmp_path: Path, store: Store, index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    """Every file gone at once looks like an unmounted disk: rows are kept, not pruned."""
    items = [receive(store, make_ct()).instance for _ in range(12)]
    for item in items:
        store.path_of(item).unlink()
    caplog.set_level(logging.WARNING, LOGGER)
    session = open_session(store.root, index)
    session.close()
    assert session.report.removed_rows == () and session.report.kept_missing == 12
    assert len(list(index.iter_instances())) == 12
    assert not (store.root / QUARANTINE_DIR).exists()
    assert warnings_of(caplog) == [
        f"12 of 12 indexed files are missing and 0 of 0 files have no index row under "
        f"{store.objects_dir}: is the store's disk mounted, and is db_url the index of this "
        "store_dir? Nothing was changed; run 'pacslink store verify' to list them"]


def test_an_index_of_another_store_changes_nothing(
    tmp_path: Path, store: Store, index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh index (db_url changed) beside a full store: files stay where they are."""
    for _ in range(12):
        receive(store, make_ct())
    before = object_files(store.root)
    other = Index(f"sqlite:///{tmp_path}/other.sqlite")
    try:
        caplog.set_level(logging.WARNING, LOGGER)
        session = open_session(store.root, other)
        session.close()
    finally:
        other.close()
    assert session.report.kept_orphans == 12 and session.report.quarantined == ()
    assert not session.report.clean
    assert object_files(store.root) == before
    assert not (store.root / QUARANTINE_DIR).exists()
    assert "0 of 0 indexed files are missing and 12 of 12 files have no index row" in (
        warnings_of(caplog)[0])


def _damage(sqlite_file: Path) -> None:
    """Overwrite the middle of an index b-tree page of the (checkpointed) database."""
    conn = sqlite3.connect(sqlite_file)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    rootpage = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'ix_instance_sop_class_uid'"
    ).fetchone()[0]
    conn.close()
    with open(sqlite_file, "r+b") as fp:
        fp.seek(page_size * (rootpage - 1) + 8)
        fp.write(b"\xff" * 64)


def test_damaged_index_refuses_to_start_and_touches_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    app = Pacslink.from_home(home, flags={"min_free_mb": 1}, environ={})
    receive(app.store, make_ct())
    orphan = app.store.objects_dir / "aa" / "orphan.dcm"
    orphan.write_bytes(b"x")
    app.close()
    _damage(home / "index.sqlite")
    damaged = Pacslink.from_home(home, flags={"min_free_mb": 1}, environ={})
    try:
        with pytest.raises(StoreError) as caught:
            damaged.store  # noqa: B018 - opening is what refuses
        message = str(caught.value)
        assert f"the index database {home / 'index.sqlite'} is damaged" in message
        assert "Nothing was changed" in message and "restore it from a backup" in message
        assert "pacslink store verify" in message
        assert orphan.is_file() and not (home / "store" / QUARANTINE_DIR).exists()
    finally:
        damaged.close()
