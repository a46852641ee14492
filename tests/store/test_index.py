"""The SQL index on its own, against SQLite and (when a server can be started) PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from pacslink.errors import StoreError
from pacslink.store import Index, InstanceRecord
from pacslink.store import index as index_module
from pacslink.store.paths import new_object_relpath
from pacslink.store.record import values_from_dataset
from pacslink.store.schema import column_for, instance, meta_table, patient, series, study
from tests.factory import make_ct


def record(**ct: Any) -> InstanceRecord:
    values = values_from_dataset(make_ct(**ct))
    return InstanceRecord(
        values=values,
        path=str(new_object_relpath()),
        size=1234,
        sha256="ab" * 32,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        calling_ae="MODALITY",
        received_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )


@pytest.fixture
def idx(db_url: str) -> Any:
    index = Index(db_url)
    yield index
    index.close()


def count(index: Index, table: sa.Table) -> int:
    with index.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_add_and_get_round_trip(idx: Index) -> None:
    rec = record(sop_instance_uid="1.2.1", instance_number=5, patient_name="Doe^John")
    assert idx.add_instance(rec) is True
    got = idx.get_instance("1.2.1")
    assert got == rec.to_stored_instance()
    assert got.received_at == rec.received_at and got.instance_number == 5
    assert got.attributes["PatientName"] == "Doe^John"
    assert idx.get_instance("1.2.404") is None


def test_duplicate_is_refused_and_creates_nothing(idx: Index) -> None:
    assert idx.add_instance(record(sop_instance_uid="1.2.2"))
    dup = record(sop_instance_uid="1.2.2", patient_id="OTHER")  # other patient/study/series
    assert idx.add_instance(dup) is False
    assert (count(idx, patient), count(idx, study), count(idx, series)) == (1, 1, 1)
    assert idx.get_instance("1.2.2").patient_id == "PAT001"


def test_replace_returns_old_row_and_prunes_empty_parents(idx: Index) -> None:
    first = record(sop_instance_uid="1.2.3", patient_id="P1")
    idx.add_instance(first)
    second = record(sop_instance_uid="1.2.3", patient_id="P2", patient_name="Roe^Richard")
    old = idx.replace_instance(second)
    assert old == first.to_stored_instance()
    assert idx.get_instance("1.2.3") == second.to_stored_instance()
    assert (count(idx, patient), count(idx, study), count(idx, series)) == (1, 1, 1)
    assert [s.patient_id for s in idx.list_studies()] == ["P2"]
    assert idx.replace_instance(record(sop_instance_uid="1.2.4")) is None
    assert idx.add_instance(record(sop_instance_uid="1.2.4"), replace=True) is True


def test_first_values_win_and_gaps_are_filled(idx: Index) -> None:
    uid = "1.2.50"
    idx.add_instance(record(study_instance_uid=uid, StudyDescription=None, AccessionNumber="A1"))
    idx.add_instance(
        record(study_instance_uid=uid, StudyDescription="FILLED", AccessionNumber="A2")
    )
    idx.add_instance(record(study_instance_uid=uid, StudyDescription="IGNORED"))
    [summary] = idx.list_studies()
    assert (summary.study_description, summary.accession_number) == ("FILLED", "A1")


def test_a_batch_is_recorded_in_one_transaction_with_per_record_answers(idx: Index) -> None:
    idx.add_instance(record(sop_instance_uid="7.1", study_instance_uid="7", StudyDescription=None))
    batch = [
        record(sop_instance_uid="7.2", study_instance_uid="7", series_instance_uid="7.9",
               StudyDescription="FILLED"),
        record(sop_instance_uid="7.1", patient_id="OTHER"),  # held before the batch
        record(sop_instance_uid="7.3", study_instance_uid="7", series_instance_uid="7.9"),
        record(sop_instance_uid="7.2", study_instance_uid="8"),  # earlier in the batch
        record(sop_instance_uid="7.4", patient_id="P2", study_instance_uid="9"),
    ]
    assert idx.add_instances(batch) == [True, False, True, False, True]
    assert (count(idx, patient), count(idx, study), count(idx, series)) == (2, 2, 3)
    assert count(idx, instance) == 4
    assert idx.get_instance("7.2") == batch[0].to_stored_instance()
    assert idx.get_instance("7.1").patient_id == "PAT001"  # the duplicate changed nothing
    studies = {s.study_instance_uid: s for s in idx.list_studies()}
    assert set(studies) == {"7", "9"}  # nothing was made for the duplicates
    assert studies["7"].study_description == "FILLED" and studies["7"].instance_count == 3
    assert idx.add_instances([]) == []


def test_a_failing_batch_records_nothing(idx: Index) -> None:
    first = record(sop_instance_uid="6.1", patient_id="SECRET-PID")
    clash = InstanceRecord(**{**first.__dict__, "values": {**first.values, "SOPInstanceUID": "6.2"}})
    with pytest.raises(StoreError) as caught:
        idx.add_instances([first, record(sop_instance_uid="6.3"), clash])  # same file path
    assert "SECRET" not in str(caught.value) and first.path not in str(caught.value)
    assert (count(idx, patient), count(idx, instance)) == (0, 0)
    assert idx.add_instances([first]) == [True]


def test_list_studies_counts_orders_and_filters(idx: Index) -> None:
    idx.add_instance(
        record(
            patient_id="P1",
            study_instance_uid="1.1",
            series_instance_uid="1.1.1",
            StudyDate="20230101",
        )
    )
    for n in range(3):
        idx.add_instance(
            record(
                patient_id="P1",
                study_instance_uid="1.2",
                series_instance_uid=f"1.2.{n % 2}",
                StudyDate="20240101",
                modality="CT" if n % 2 else "PR",
            )
        )
    idx.add_instance(
        record(
            patient_id="P2",
            patient_name="Roe^Richard",
            study_instance_uid="2.1",
            StudyDate="20220101",
            modality="MR",
        )
    )
    studies = idx.list_studies()
    assert [
        (s.study_instance_uid, s.series_count, s.instance_count, s.modalities) for s in studies
    ] == [("1.2", 2, 3, ("CT", "PR")), ("1.1", 1, 1, ("CT",)), ("2.1", 1, 1, ("MR",))]
    assert [s.study_instance_uid for s in idx.list_studies("P2")] == ["2.1"]
    assert studies[2].patient_name == "Roe^Richard" and studies[0].study_date == "20240101"
    assert idx.list_studies("NOBODY") == []


def test_study_detail_orders_series_and_instances(idx: Index) -> None:
    for series_number, series_uid in [(2, "9.2"), (1, "9.1")]:
        for instance_number in (3, 1, 2):
            idx.add_instance(
                record(
                    study_instance_uid="9",
                    series_instance_uid=series_uid,
                    series_number=series_number,
                    instance_number=instance_number,
                    sop_instance_uid=f"{series_uid}.{instance_number}",
                )
            )
    idx.add_instance(
        record(
            study_instance_uid="9",
            series_instance_uid="9.0",
            SeriesNumber=None,
            sop_instance_uid="9.0.1",
        )
    )
    detail = idx.study_detail("9")
    assert detail is not None and detail.study.instance_count == 7
    assert [s.series_instance_uid for s in detail.series] == ["9.1", "9.2", "9.0"]
    assert [i.sop_instance_uid for i in detail.series[0].instances] == ["9.1.1", "9.1.2", "9.1.3"]
    assert detail.series[0].instance_count == 3 and detail.series[0].modality == "CT"
    assert detail.series[2].series_number is None
    assert idx.study_detail("unknown") is None


def test_iter_instances_pages_through_everything(
    idx: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_BATCH", 2)
    uids = [f"1.2.7.{n}" for n in range(5)]
    for uid in uids:
        idx.add_instance(record(sop_instance_uid=uid))
    assert [i.sop_instance_uid for i in idx.iter_instances()] == uids


def test_concurrent_writers_share_parents(idx: Index) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for k in range(5):
                idx.add_instance(
                    record(
                        patient_id="SHARED",
                        study_instance_uid="5.5",
                        series_instance_uid=f"5.5.{k}",
                        sop_instance_uid=f"5.5.{k}.{n}",
                    )
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [summary] = idx.list_studies()
    assert (summary.series_count, summary.instance_count) == (5, 40)
    assert (count(idx, patient), count(idx, study), count(idx, series)) == (1, 1, 5)


def test_database_errors_carry_no_values(idx: Index) -> None:
    first = record(patient_id="SECRET-PID", sop_instance_uid="1.2.8")
    idx.add_instance(first)
    clash = InstanceRecord(
        **{**first.__dict__, "values": {**first.values, "SOPInstanceUID": "1.2.9"}}
    )
    with pytest.raises(StoreError) as caught:
        idx.add_instance(clash)  # same file path as the first: a unique constraint fails
    message = str(caught.value)
    assert "SECRET" not in message and first.path not in message and "1.2.9" not in message


def test_schema_version_mismatch_is_refused(db_url: str) -> None:
    Index(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.update(meta_table).values(value="999"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 999"):
        Index(db_url)


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "oracle://u@h/db"])
def test_bad_urls_are_store_errors(url: str) -> None:
    with pytest.raises(StoreError):
        Index(url)


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        Index("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_sqlite_settings(sqlite_url: str) -> None:
    index = Index(sqlite_url)
    try:
        with index.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        inspector = sa.inspect(index.engine)
        indexed = {
            (table, tuple(ix["column_names"]))
            for table in ("patient", "study", "series", "instance")
            for ix in inspector.get_indexes(table) + inspector.get_unique_constraints(table)
        }
        for needed in [
            ("patient", ("patient_id",)),
            ("study", ("study_instance_uid",)),
            ("series", ("series_instance_uid",)),
            ("instance", ("sop_instance_uid",)),
        ]:
            assert needed in indexed, needed
    finally:
        index.close()


def test_index_without_durable_commits(db_url: str) -> None:
    """``durable=False`` (setting ``sync = never``): commits are not flushed, rows are kept."""
    index = Index(db_url, durable=False)
    try:
        assert index.add_instance(record(sop_instance_uid="1.2.9"))
        assert index.get_instance("1.2.9") is not None
        with index.engine.connect() as conn:
            if db_url.startswith("sqlite"):
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 0  # OFF
            else:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    finally:
        index.close()
    durable = Index(db_url)
    try:
        with durable.engine.connect() as conn:
            if db_url.startswith("sqlite"):
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            else:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    finally:
        durable.close()


def test_in_memory_index_is_shared_between_threads() -> None:
    index = Index("sqlite://")
    try:
        thread = threading.Thread(target=index.add_instance, args=(record(sop_instance_uid="1.3"),))
        thread.start()
        thread.join()
        assert index.get_instance("1.3") is not None
    finally:
        index.close()


def test_column_map_for_query_matching() -> None:
    assert column_for("PatientID") is patient.c.patient_id
    assert column_for("StudyDate") is study.c.study_date
    with pytest.raises(KeyError):
        column_for("PixelData")


def test_present_answers_for_many_uids_at_once(idx: Index) -> None:
    held = [f"1.2.77.{i}" for i in range(3)]
    for uid in held:
        assert idx.add_instance(record(sop_instance_uid=uid))
    asked = [f"1.2.77.{i}" for i in range(1200)] + held  # several IN chunks, duplicates
    assert idx.present(asked) == set(held)
    assert idx.present([]) == set()


def test_begin_now_never_waits(sqlite_url: str, db_url: str) -> None:
    """The event loop's write path: granted at once, or ``None`` (never a wait)."""
    if not db_url.startswith("sqlite"):
        index = Index(db_url)
        assert index.begin_now() is None  # PostgreSQL: always through a worker thread
        index.close()
        return
    index = Index(sqlite_url)
    try:
        first = index.begin_now()
        assert first is not None
        assert first.add([record(sop_instance_uid="4.1")]) == [True]
        # its connection is in use: another thread gets None, not a wait
        other: list[object] = []
        thread = threading.Thread(target=lambda: other.append(index.begin_now()))
        thread.start()
        thread.join()
        assert other == [None]
        first.commit()
        first.close()
        assert index.get_instance("4.1") is not None
        second = index.begin_now()  # the same kept connection, free again
        assert second is not None
        second.add([record(sop_instance_uid="4.2")])
        second.close()  # not committed: rolled back
        assert index.get_instance("4.2") is None
        import sqlite3

        writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another writer (process) holds the lock
        assert index.begin_now() is None
        writer.execute("ROLLBACK")
        writer.close()
        third = index.begin_now()
        assert third is not None
        third.close()
    finally:
        index.close()
