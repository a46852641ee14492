"""Receiving instances into the store: the Part 10 file, the index row, the bad cases."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from pydicom.filereader import read_preamble

import pacslink
from pacslink.errors import DatasetParseError
from pacslink.models import DuplicatePolicy
from pacslink.store import Index, Store
from pacslink.store.parse import read_file_meta_info_from
from tests.factory import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    make_ct,
    make_dataset_bytes,
)

OBJECT_PATH = re.compile(r"^objects/[0-9a-f]{2}/[0-9a-f]{32}\.dcm$")
ALL_SYNTAXES = [
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
]


def dataset_offset(path: Path) -> int:
    with open(path, "rb") as fp:
        read_preamble(fp, False)
        read_file_meta_info_from(fp)
        return fp.tell()


@pytest.mark.parametrize("ts", ALL_SYNTAXES)
def test_stored_file_is_part10_with_the_received_bytes(store: Store, ingest, ts: str) -> None:
    ds = make_ct(PatientName="Müller^Jörg")
    data = make_dataset_bytes(ds, ts)
    result = ingest(
        store,
        data=data,
        transfer_syntax_uid=ts,
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        calling_ae="CT_SCANNER",
    )
    path = store.path_of(result.instance)
    raw = path.read_bytes()
    assert raw[:128] == bytes(128) and raw[128:132] == b"DICM"
    offset = dataset_offset(path)
    assert raw[offset:] == data  # bit for bit, never re-encoded

    read = pydicom.dcmread(path)
    meta = read.file_meta
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.TransferSyntaxUID == ts
    assert meta.ImplementationClassUID == pacslink.IMPLEMENTATION_CLASS_UID
    assert meta.ImplementationVersionName == pacslink.IMPLEMENTATION_VERSION_NAME
    assert meta.SourceApplicationEntityTitle == "CT_SCANNER"
    assert meta.FileMetaInformationVersion == b"\x00\x01"
    assert meta.FileMetaInformationGroupLength == offset - 132 - 12
    assert read.SOPInstanceUID == ds.SOPInstanceUID
    assert str(read.PatientName) == "Müller^Jörg"
    assert read.PixelData == ds.PixelData
    assert result.instance.transfer_syntax_uid == ts
    assert result.instance.attributes["PatientName"] == "Müller^Jörg"


def test_index_row_records_attributes_and_file(store: Store, index: Index, ingest) -> None:
    ds = make_ct(instance_number=7, NumberOfFrames=2, ImageID="IMG7")
    before = datetime.now(UTC)
    result = ingest(store, ds, calling_ae="MODALITY1")
    row = index.get_instance(ds.SOPInstanceUID)
    assert row is not None and row == result.instance and not result.duplicate
    raw = store.path_of(row).read_bytes()
    assert row.size == len(raw)
    assert row.sha256 == hashlib.sha256(raw).hexdigest()
    assert OBJECT_PATH.match(row.path)
    assert row.calling_ae == "MODALITY1"
    assert row.transfer_syntax_uid == EXPLICIT_VR_LITTLE_ENDIAN
    assert row.received_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= row.received_at <= datetime.now(UTC)
    assert (row.sop_class_uid, row.study_instance_uid, row.series_instance_uid) == (
        ds.SOPClassUID,
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
    )
    assert row.patient_id == "PAT001" and row.instance_number == 7
    expected = {
        "PatientName": "Doe^Jane",
        "PatientBirthDate": "19700101",
        "PatientSex": "F",
        "PatientWeight": "61.5",
        "StudyDate": "20240131",
        "StudyTime": "101500",
        "StudyDescription": "CT HEAD",
        "ReferringPhysicianName": "Who^Doctor",
        "AccessionNumber": "ACC42",
        "StudyID": "S1",
        "Modality": "CT",
        "SeriesNumber": "1",
        "SeriesDate": "20240131",
        "SeriesTime": "101600",
        "SeriesDescription": "AXIAL 5mm",
        "BodyPartExamined": "HEAD",
        "ProtocolName": "HEAD ROUTINE",
        "PatientPosition": "HFS",
        "ContentDate": "20240131",
        "ContentTime": "101602",
        "ImageType": "ORIGINAL\\PRIMARY\\AXIAL",
        "SliceLocation": "-12.5",
        "ImageID": "IMG7",
        "AcquisitionDate": "20240131",
        "AcquisitionTime": "101601.5",
        "AcquisitionNumber": "3",
        "Rows": "8",
        "Columns": "8",
        "NumberOfFrames": "2",
    }
    for keyword, value in expected.items():
        assert row.attributes[keyword] == value, keyword


@pytest.mark.parametrize(
    ("charset", "name"),
    [("ISO_IR 192", "山田^太郎"), ("ISO_IR 100", "Ñuñez^José"), ("ISO_IR 144", "Иванов^Иван")],
)
def test_text_is_decoded_per_specific_character_set(
    store: Store, index: Index, ingest, charset: str, name: str
) -> None:
    ds = make_ct(SpecificCharacterSet=charset, PatientName=name, StudyDescription=name)
    ingest(store, ds)
    [summary] = index.list_studies()
    assert summary.patient_name == name and summary.study_description == name


def test_missing_and_malformed_attributes_become_empty(store: Store, index: Index, ingest) -> None:
    ds = pydicom.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.add_new(0x00200013, "LO", "not a number")  # InstanceNumber with a wrong VR/value
    result = ingest(store, ds)
    row = index.get_instance("1.2.3.4.5")
    assert row == result.instance
    assert row.patient_id == "" and row.study_instance_uid == "" and row.instance_number is None
    assert set(row.attributes) == {"SOPClassUID", "SOPInstanceUID"}
    [summary] = index.list_studies()
    assert summary.instance_count == 1 and summary.patient_name == ""


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # raised building the test data
@pytest.mark.parametrize("uid", ["../../x", "/etc/x", "..", "a/../../../../tmp/pwn"])
def test_hostile_uids_stay_inside_the_store(
    tmp_path: Path, store: Store, index: Index, ingest, uid: str
) -> None:
    outside_before = sorted(p for p in tmp_path.rglob("*") if store.root not in p.parents)
    etc_existed = Path("/etc/x").exists()
    ds = make_ct(
        sop_instance_uid=uid,
        study_instance_uid=uid + "s",
        series_instance_uid="../" + uid,
        patient_id="../../pid",
    )
    data = make_dataset_bytes(ds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ingest(
            store,
            data=data,
            sop_class_uid=ds.SOPClassUID,
            sop_instance_uid=uid,
            calling_ae="../../AE",
        )
    assert caught == []  # the store reads without pydicom's value warnings (they quote values)
    assert OBJECT_PATH.match(result.instance.path)
    path = store.path_of(result.instance)
    assert path.is_relative_to(store.objects_dir) and path.is_file()
    assert pydicom.dcmread(path).file_meta.MediaStorageSOPInstanceUID == uid
    assert index.get_instance(uid) == result.instance
    outside_after = sorted(p for p in tmp_path.rglob("*") if store.root not in p.parents)
    new_outside = set(outside_after) - set(outside_before)
    assert all(p.name.startswith("index.sqlite") for p in new_outside), new_outside
    assert Path("/etc/x").exists() == etc_existed


@pytest.mark.parametrize("bad", ["", "   ", "1.2\\3.4", "1.2.ü", "1" * 300])
def test_unwritable_command_uid_is_refused_at_begin(store: Store, residue, bad: str) -> None:
    with pytest.raises(DatasetParseError):
        store.begin(
            sop_class_uid="1.2.3",
            sop_instance_uid=bad,
            transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
            calling_ae="X",
        )
    assert residue() == ([], [], 0)


def test_abort_is_idempotent_and_context_manager_aborts(store: Store, residue) -> None:
    incoming = store.begin(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.3.4",
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
        calling_ae="X",
    )
    incoming.write(b"\x08\x00")
    assert len(residue()[0]) == 1
    incoming.abort()
    incoming.abort()
    assert residue() == ([], [], 0)
    with store.begin(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.3.4",
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
        calling_ae="X",
    ) as incoming:
        incoming.write(b"\x08\x00")
    assert residue() == ([], [], 0)


def test_duplicate_keep_keeps_the_first_copy(
    store: Store, index: Index, ingest, residue, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_ct(sop_instance_uid="1.2.99.1", patient_id="SECRET-ID", patient_name="Secret^Name")
    original = ingest(store, first)
    second = make_ct(sop_instance_uid="1.2.99.1", patient_id="SECRET-ID", patient_name="Other^Name")
    with caplog.at_level(logging.INFO, logger="pacslink"):
        result = ingest(store, second)
    assert result.duplicate and not result.replaced
    assert result.instance == original.instance
    assert index.get_instance("1.2.99.1") == original.instance
    temps, objects, rows = residue()
    assert temps == [] and objects == [store.path_of(original.instance)] and rows == 1
    assert str(pydicom.dcmread(objects[0]).PatientName) == "Secret^Name"
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("1.2.99.1" in m and "duplicate" in m for m in messages)
    assert not any("SECRET" in m or "Secret" in m or "Other" in m for m in messages)


def test_duplicate_overwrite_replaces_file_and_row(
    make_store, index: Index, ingest, residue
) -> None:
    store = make_store(duplicate_policy=DuplicatePolicy.OVERWRITE)
    study = "1.2.77"
    old = ingest(
        store,
        make_ct(
            sop_instance_uid="1.2.99.2", study_instance_uid=study, series_instance_uid="1.2.77.1"
        ),
    )
    ingest(store, make_ct(study_instance_uid=study, series_instance_uid="1.2.77.1"))
    new = ingest(
        store,
        make_ct(
            sop_instance_uid="1.2.99.2",
            study_instance_uid=study,
            series_instance_uid="1.2.77.2",
            patient_name="New^Name",
        ),
    )
    assert new.duplicate and new.replaced
    row = index.get_instance("1.2.99.2")
    assert row == new.instance and row.path != old.instance.path
    assert row.sha256 != old.instance.sha256
    assert not store.path_of(old.instance).exists()
    temps, objects, rows = residue()
    assert temps == [] and len(objects) == 2 and rows == 2
    detail = index.study_detail(study)
    assert detail is not None
    assert [(s.series_instance_uid, s.instance_count) for s in detail.series] == [
        ("1.2.77.1", 1),
        ("1.2.77.2", 1),
    ]
    # Replacing the only instance of a series removes the emptied series.
    ingest(
        store,
        make_ct(
            sop_instance_uid="1.2.99.2", study_instance_uid=study, series_instance_uid="1.2.77.1"
        ),
    )
    detail = index.study_detail(study)
    assert detail is not None
    assert [(s.series_instance_uid, s.instance_count) for s in detail.series] == [("1.2.77.1", 2)]


def test_concurrent_commits_from_eight_threads_all_land(make_store, index: Index, ingest) -> None:
    store = make_store()
    study = "1.2.555"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for k in range(4):
                ds = make_ct(
                    study_instance_uid=study,
                    series_instance_uid=f"1.2.555.{n % 3}",
                    sop_instance_uid=f"1.2.555.{n}.{k}",
                )
                ingest(store, ds)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [summary] = index.list_studies()
    assert (summary.series_count, summary.instance_count) == (3, 32)
    assert len(list(store.objects_dir.rglob("*.dcm"))) == 32


def test_commit_steps_happen_in_the_durable_order(
    store: Store, index: Index, ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync(file) -> rename -> fsync(directory) -> index row, as the C-STORE promise needs."""
    import os
    import stat

    events: list[str] = []
    real_fsync, real_replace, real_add = os.fsync, os.replace, index.add_instance

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync-{kind}")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    def add(record: object, **kwargs: object) -> bool:
        events.append("index")
        return real_add(record, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(index, "add_instance", add)
    ingest(store, make_ct())
    # new directories may add directory fsyncs before the rename; the tail is fixed
    assert events[0] == "fsync-file"
    assert events[-3:] == ["replace", "fsync-dir", "index"]
    assert set(events[1:-3]) <= {"fsync-dir"}


def test_sync_never_stores_and_indexes_without_any_fsync(
    tmp_path: Path, sqlite_url: str, ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sync = never``: same file and row, but no fsync of file or directory, and the
    index's SQLite connections run with ``synchronous=OFF``."""
    import os

    import sqlalchemy as sa

    from pacslink.models import SyncMode

    index = Index(sqlite_url, durable=False)
    store = Store(tmp_path / "store", index, sync=SyncMode.NEVER)
    fsyncs: list[int] = []
    monkeypatch.setattr(os, "fsync", fsyncs.append)
    ds = make_ct()
    data = make_dataset_bytes(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    result = ingest(store, ds)
    assert fsyncs == []
    assert store.path_of(result.instance).read_bytes().endswith(data)
    assert index.get_instance(ds.SOPInstanceUID) == result.instance
    with index.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 0  # OFF
    index.close()
    with Index(sqlite_url).engine.connect() as conn:  # the default stays FULL
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 2


def test_duplicate_arriving_concurrently_keeps_one_copy(
    store: Store, index: Index, ingest, residue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pre-check: the index's unique key decides, one file stays, the loser is removed."""
    first = ingest(store, make_ct(sop_instance_uid="1.2.99.3"))
    real_add, results = index.add_instance, []

    def add_instance(record: object, **kw: object) -> bool:
        results.append(real_add(record, **kw))  # type: ignore[arg-type]
        return results[-1]

    monkeypatch.setattr(index, "add_instance", add_instance)
    second = ingest(store, make_ct(sop_instance_uid="1.2.99.3", patient_name="Second^Copy"))
    assert second.duplicate and second.instance == first.instance and results == [False]
    temps, objects, rows = residue()
    assert temps == [] and objects == [store.path_of(first.instance)] and rows == 1
