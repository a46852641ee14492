"""Group commit: instances received together share fsyncs and one index transaction,
each still answered only once it is itself on disk and in the index."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import PurePosixPath

import pytest

from pacslink.errors import DatasetMismatchError, StoreError
from pacslink.models import IngestResult
from pacslink.store import IncomingFile, Index, Store, paths
from pacslink.store.committer import GroupCommitter
from tests.factory import EXPLICIT_VR_LITTLE_ENDIAN, make_ct, make_dataset_bytes


def received(store: Store, *, claimed_uid: str | None = None, **ct: object) -> IncomingFile:
    """An instance fully received but not committed yet."""
    ds = make_ct(**ct)  # type: ignore[arg-type]
    incoming = store.begin(sop_class_uid=ds.SOPClassUID,
                           sop_instance_uid=claimed_uid or ds.SOPInstanceUID,
                           transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN, calling_ae="CT1")
    incoming.write(make_dataset_bytes(ds))
    return incoming


def test_one_bad_instance_does_not_fail_the_others(store: Store, index: Index, residue) -> None:  # type: ignore[no-untyped-def]
    batch = [received(store), received(store, claimed_uid="1.2.3.999"), received(store)]
    outcomes = store.commit_batch(batch)
    assert isinstance(outcomes[0], IngestResult) and isinstance(outcomes[2], IngestResult)
    assert isinstance(outcomes[1], DatasetMismatchError)
    temps, objects, rows = residue()
    assert (temps, len(objects), rows) == ([], 2, 2)
    for outcome in (outcomes[0], outcomes[2]):
        assert isinstance(outcome, IngestResult)
        assert store.path_of(outcome.instance).is_file()
        assert index.get_instance(outcome.instance.sop_instance_uid) == outcome.instance


def test_a_failed_group_transaction_is_retried_one_by_one(
    store: Store, index: Index, residue, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    def no_batches(records: Sequence[object]) -> list[bool]:
        raise StoreError("index database error while adding instances: disk I/O error")

    real_add = index.add_instance

    def add_instance(record, **kw):  # type: ignore[no-untyped-def]
        if record.values["PatientID"] == "BROKEN":
            raise StoreError("index database error while adding an instance: value too long")
        return real_add(record, **kw)

    monkeypatch.setattr(index, "add_instances", no_batches)
    monkeypatch.setattr(index, "add_instance", add_instance)
    outcomes = store.commit_batch([received(store), received(store, patient_id="BROKEN"),
                                   received(store)])
    assert [type(o).__name__ for o in outcomes] == ["IngestResult", "StoreError", "IngestResult"]
    temps, objects, rows = residue()
    assert (temps, len(objects), rows) == ([], 2, 2)  # the refused one left no file


def test_durable_batch_fsyncs_files_then_each_directory_once_then_the_index(
    store: Store, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_add = os.fsync, index.add_instances

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def add_instances(records: Sequence[object]) -> list[bool]:
        events.append(f"index x{len(records)}")
        return real_add(records)  # type: ignore[arg-type]

    names = iter(["aa" + "0" * 30, "aa" + "1" * 30, "ab" + "2" * 30, "aa" + "3" * 30])
    monkeypatch.setattr(paths, "new_object_relpath",
                        lambda: PurePosixPath("objects", (n := next(names))[:2], n + ".dcm"))
    batch = [received(store) for _ in range(4)]
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(index, "add_instances", add_instances)
    outcomes = store.commit_batch(batch)
    assert all(isinstance(o, IngestResult) for o in outcomes)
    assert events == ["fsync-file"] * 4 + ["fsync-dir"] * 2 + ["index x4"]
    assert sorted(p.parent.name for p in store.objects_dir.rglob("*.dcm")) == ["aa"] * 3 + ["ab"]


def test_instances_submitted_meanwhile_form_the_next_batch() -> None:
    batches: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()

    def commit_batch(items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        first_started.set()
        release.wait(10)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    committer: GroupCommitter[int, int] = GroupCommitter(commit_batch)

    async def scenario() -> list[object]:
        futures = [committer.submit(0)]
        await asyncio.to_thread(first_started.wait, 10)
        futures += [committer.submit(i) for i in (1, 2, 3)]
        release.set()
        return await asyncio.gather(*futures, return_exceptions=True)

    results = asyncio.run(scenario())
    committer.close()
    assert batches == [[0], [1, 2, 3]]
    assert results[0] == 0 and results[2] == 20
    assert [str(results[i]) for i in (1, 3)] == ["odd 1", "odd 3"]


def test_a_lone_instance_is_committed_at_once_and_the_idle_thread_ends() -> None:
    committer: GroupCommitter[int, int] = GroupCommitter(lambda items: list(items),
                                                          idle_seconds=0.05)

    async def one(value: int) -> int:
        return await committer.submit(value)

    assert asyncio.run(one(7)) == 7
    thread = committer._thread  # None if it has already ended
    if thread is not None:
        thread.join(5)
        assert not thread.is_alive(), "the idle committer thread did not end"
    assert committer._thread is None
    assert asyncio.run(one(8)) == 8  # started again on demand
    committer.close()
    with pytest.raises(StoreError, match="closed"):
        asyncio.run(one(9))


def test_commit_async_goes_through_the_store_committer(store: Store, index: Index) -> None:
    async def scenario() -> list[IngestResult]:
        return list(await asyncio.gather(*(received(store).commit_async() for _ in range(5))))

    results = asyncio.run(scenario())
    store.close()
    assert len({r.instance.sop_instance_uid for r in results}) == 5
    assert all(index.get_instance(r.instance.sop_instance_uid) == r.instance for r in results)


def test_sync_never_commits_on_the_loop_when_the_index_lock_is_free(
    tmp_path, sqlite_url: str  # type: ignore[no-untyped-def]
) -> None:
    from pacslink.models import SyncMode

    index = Index(sqlite_url, durable=False)
    store = Store(tmp_path / "store", index, sync=SyncMode.NEVER)

    async def scenario() -> IngestResult:
        future = received(store).commit_async()
        assert future.done()  # no thread hand-off
        return await future

    result = asyncio.run(scenario())
    assert store._committer is None
    assert index.get_instance(result.instance.sop_instance_uid) == result.instance
    assert store.path_of(result.instance).is_file()
    index.close()


def test_sync_never_waits_in_the_committer_while_another_writer_holds_the_lock(
    tmp_path, sqlite_url: str  # type: ignore[no-untyped-def]
) -> None:
    import sqlite3

    from pacslink.models import SyncMode

    index = Index(sqlite_url, durable=False)
    store = Store(tmp_path / "store", index, sync=SyncMode.NEVER)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, say

    async def scenario() -> IngestResult:
        future = received(store).commit_async()
        await asyncio.sleep(0.3)
        assert not future.done()  # waiting for the lock, off the loop
        other.execute("COMMIT")
        return await asyncio.wait_for(future, 30)

    result = asyncio.run(scenario())
    assert store._committer is not None
    assert index.get_instance(result.instance.sop_instance_uid) == result.instance
    store.close()
    other.close()
    index.close()


def test_durable_commits_always_go_through_the_committer(store: Store, index: Index) -> None:
    async def scenario() -> IngestResult:
        future = received(store).commit_async()
        assert not future.done()
        return await future

    result = asyncio.run(scenario())
    assert store._committer is not None
    assert index.get_instance(result.instance.sop_instance_uid) == result.instance
    store.close()


def test_while_the_committer_is_busy_files_are_fsynced_in_parallel(
    store: Store, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next instance's checks, file fsync and rename happen meanwhile, off the
    committer thread; it is answered only after the committer recorded it."""
    release = threading.Event()
    committing = threading.Event()
    prepared_on: list[str] = []
    real_add = index.add_instance
    real_prepare = IncomingFile._prepare

    def slow_add(record, **kw):  # type: ignore[no-untyped-def]
        committing.set()
        release.wait(10)
        return real_add(record, **kw)

    def prepare(self):  # type: ignore[no-untyped-def]
        prepared_on.append(threading.current_thread().name)
        return real_prepare(self)

    monkeypatch.setattr(index, "add_instance", slow_add)
    monkeypatch.setattr(IncomingFile, "_prepare", prepare)

    async def scenario() -> list[IngestResult]:
        first = asyncio.ensure_future(received(store).commit_async())
        await asyncio.to_thread(committing.wait, 10)
        second_file = received(store)
        second = asyncio.ensure_future(second_file.commit_async())
        for _ in range(500):  # its file reaches objects/ while the committer is blocked
            if second_file.record is not None:
                break
            await asyncio.sleep(0.01)
        assert second_file.record is not None and not second.done()
        assert (store.root / second_file.record.path).is_file()
        assert index.get_instance(second_file.sop_instance_uid) is None
        release.set()
        return [await first, await second]

    results = asyncio.run(scenario())
    store.close()
    assert prepared_on[0] == "pacslink-group-commit"
    assert prepared_on[1] != "pacslink-group-commit" and len(prepared_on) == 2
    assert all(index.get_instance(r.instance.sop_instance_uid) == r.instance for r in results)
