"""``verify()``: every inconsistency between files and index is found and named."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from pacslink.models import IngestResult, VerifyProblem
from pacslink.store import Index, Store, verify
from pacslink.store.schema import instance
from tests.factory import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, make_ct


@pytest.fixture
def three(store: Store, ingest) -> list[IngestResult]:
    return [
        ingest(store, make_ct()),
        ingest(store, make_ct()),
        ingest(store, make_ct(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN),
    ]


def set_row(index: Index, sop_instance_uid: str, **values: object) -> None:
    with index.engine.begin() as conn:
        conn.execute(
            sa.update(instance)
            .where(instance.c.sop_instance_uid == sop_instance_uid)
            .values(**values)
        )


def problems(store: Store) -> list[tuple[VerifyProblem, str]]:
    report = verify(store)
    assert report.checked == 3
    return [(i.problem, i.sop_instance_uid) for i in report.issues]


def test_consistent_store_verifies_clean(store: Store, three: list[IngestResult]) -> None:
    report = verify(store)
    assert report.ok and report.checked == 3 and report.issues == ()


def test_missing_file(store: Store, three: list[IngestResult]) -> None:
    store.path_of(three[1].instance).unlink()
    assert problems(store) == [(VerifyProblem.MISSING, three[1].instance.sop_instance_uid)]


def test_modified_file_same_size(store: Store, three: list[IngestResult]) -> None:
    path = store.path_of(three[0].instance)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one bit of pixel data
    path.write_bytes(bytes(data))
    assert problems(store) == [(VerifyProblem.HASH_MISMATCH, three[0].instance.sop_instance_uid)]


def test_modified_file_other_size(store: Store, three: list[IngestResult]) -> None:
    with open(store.path_of(three[2].instance), "ab") as fp:
        fp.write(b"\x00\x00")
    assert problems(store) == [(VerifyProblem.SIZE_MISMATCH, three[2].instance.sop_instance_uid)]


def test_orphan_and_stale_temp(store: Store, three: list[IngestResult]) -> None:
    orphan = store.objects_dir / "00" / "00" / ("0" * 32 + ".dcm")
    orphan.parent.mkdir(parents=True)
    shutil.copy(store.path_of(three[0].instance), orphan)
    (store.tmp_dir / ("f" * 32 + ".part")).write_bytes(b"partial")
    live = store.begin(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.3.4",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        calling_ae="X",
    )
    try:
        report = verify(store)
    finally:
        live.abort()
    assert [(i.problem, i.path) for i in report.issues] == [
        (VerifyProblem.ORPHAN, f"objects/00/00/{'0' * 32}.dcm"),
        (VerifyProblem.STALE_TEMP, f"tmp/{'f' * 32}.part"),
    ]
    assert report.of(VerifyProblem.ORPHAN) == report.issues[:1]


def test_unreadable_file(store: Store, index: Index, three: list[IngestResult]) -> None:
    path = store.path_of(three[1].instance)
    garbage = b"this is not DICOM" * 10
    path.write_bytes(garbage)
    set_row(
        index,
        three[1].instance.sop_instance_uid,
        size=len(garbage),
        sha256=hashlib.sha256(garbage).hexdigest(),
    )
    assert problems(store) == [(VerifyProblem.UNREADABLE, three[1].instance.sop_instance_uid)]


def test_file_of_another_instance(store: Store, index: Index, three: list[IngestResult]) -> None:
    first, second = three[0].instance, three[1].instance
    copy = Path("objects/aa/bb") / ("a" * 32 + ".dcm")
    (store.root / copy).parent.mkdir(parents=True)
    shutil.copy(store.path_of(second), store.root / copy)
    store.path_of(first).unlink()
    set_row(
        index, first.sop_instance_uid, path=copy.as_posix(), size=second.size, sha256=second.sha256
    )
    assert problems(store) == [(VerifyProblem.UID_MISMATCH, first.sop_instance_uid)]


@pytest.mark.parametrize("bad", ["../../../../etc/passwd", "/etc/passwd", "objects/../../x"])
def test_row_pointing_outside_the_store(
    store: Store, index: Index, three: list[IngestResult], bad: str
) -> None:
    victim = three[0].instance
    set_row(index, victim.sop_instance_uid, path=bad)
    found = problems(store)
    assert (VerifyProblem.UNSAFE_PATH, victim.sop_instance_uid) in found
    # its real file is now unreferenced
    assert (VerifyProblem.ORPHAN, "") in found and len(found) == 2
