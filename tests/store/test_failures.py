"""What the store refuses, and that a refusal leaves nothing behind."""

from __future__ import annotations

import errno
import functools
import random
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacslink.errors import DatasetMismatchError, DatasetParseError, StoreError, StoreFullError
from pacslink.store import Index, Store
from pacslink.store.ingest import CHECK_FREE_EVERY
from tests.factory import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    make_ct,
    make_dataset_bytes,
    make_deflate_bomb,
)

MiB = 2**20
EMPTY = ([], [], 0)


class PeakMemory:
    """Peak growth of traced allocations since :meth:`start`."""

    def start(self) -> None:
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]

    def growth(self) -> int:
        return tracemalloc.get_traced_memory()[1] - self._base


@pytest.fixture
def measure() -> Iterator[PeakMemory]:
    tracemalloc.start()
    try:
        yield PeakMemory()
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("command_class", "command_instance", "drop"),
    [
        ("1.2.840.10008.5.1.4.1.1.4", None, None),  # MR in the command, CT in the data set
        (None, "1.2.3.999", None),
        (None, None, "SOPInstanceUID"),
        (None, None, "SOPClassUID"),
    ],
)
def test_uid_mismatch_is_refused_without_residue(
    store: Store,
    ingest,
    residue,
    command_class: str | None,
    command_instance: str | None,
    drop: str | None,
) -> None:
    ds = make_ct()
    uids = (ds.SOPClassUID, ds.SOPInstanceUID)
    if drop:
        delattr(ds, drop)
    with pytest.raises(DatasetMismatchError):
        ingest(
            store,
            data=make_dataset_bytes(ds),
            sop_class_uid=command_class or uids[0],
            sop_instance_uid=command_instance or uids[1],
        )
    assert residue() == EMPTY


def _long_sequence_header() -> bytes:
    """A data set whose undefined-length sequence (read whole by pydicom) is 17 MiB."""
    item = Dataset()
    item.add_new(0x00091010, "OB", bytes(17 * MiB))
    element = DataElement(0x00081140, "SQ", Sequence([item]))
    element.is_undefined_length = True
    ds = make_ct(pixel_data=False)
    ds.add(element)
    return make_dataset_bytes(ds)


def _corrupt_deflate() -> bytes:
    data = bytearray(make_dataset_bytes(make_ct(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN))
    data[10:20] = b"\xff" * 10
    return bytes(data)


NO_SOP_UIDS = "no SOP Class UID or SOP Instance UID"
UNPARSEABLE: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "random": (lambda: random.Random(7).randbytes(4096), EXPLICIT_VR_LITTLE_ENDIAN, NO_SOP_UIDS),
    "empty": (lambda: b"", EXPLICIT_VR_LITTLE_ENDIAN, NO_SOP_UIDS),
    "text": (
        lambda: b"GET / HTTP/1.1\r\nHost: pacs\r\n\r\n" * 10,
        EXPLICIT_VR_LITTLE_ENDIAN,
        NO_SOP_UIDS,
    ),
    "deflate-truncated": (
        lambda: make_dataset_bytes(make_ct(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)[:-40],
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        "truncated",
    ),
    "deflate-corrupt": (_corrupt_deflate, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, "corrupt"),
    "not-deflated": (
        lambda: make_dataset_bytes(make_ct()),
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        "corrupt",
    ),
    "uid-too-long": (
        lambda: make_dataset_bytes(make_ct(study_instance_uid="1." * 200)),
        EXPLICIT_VR_LITTLE_ENDIAN,
        "StudyInstanceUID is 400 characters",
    ),
    "huge-sequence": (_long_sequence_header, EXPLICIT_VR_LITTLE_ENDIAN, "needs more than"),
}


@pytest.mark.filterwarnings("ignore:The value length")  # building the too-long UID
@pytest.mark.parametrize("case", sorted(UNPARSEABLE))
def test_unparseable_data_is_refused_without_residue(
    store: Store, ingest, residue, case: str
) -> None:
    build, ts, message = UNPARSEABLE[case]
    ds = make_ct()
    with pytest.raises(DatasetParseError, match=message):
        ingest(
            store,
            data=build(),
            transfer_syntax_uid=ts,
            sop_class_uid=ds.SOPClassUID,
            sop_instance_uid=ds.SOPInstanceUID,
            fragment=4 * MiB,
        )
    assert residue() == EMPTY


@pytest.mark.parametrize("ts", [EXPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN])
def test_large_skipped_element_is_not_kept_in_memory(
    store: Store, index: Index, ingest, measure, ts: str
) -> None:
    ds = make_ct(patient_id="AFTER-BIG-ELEMENT")
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091010, "OB", bytes(40 * MiB))  # before Patient ID: skipped, not read
    data = make_dataset_bytes(ds, ts)
    measure.start()
    ingest(
        store,
        data=data,
        transfer_syntax_uid=ts,
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        fragment=MiB,
    )
    assert measure.growth() < 8 * MiB
    row = index.get_instance(ds.SOPInstanceUID)
    assert row is not None and row.patient_id == "AFTER-BIG-ELEMENT"


def test_deflated_ingest_indexes_the_header(store: Store, index: Index, ingest) -> None:
    ds = make_ct(patient_id="DEFL", rows=64, columns=64)
    result = ingest(store, ds, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    assert result.instance.patient_id == "DEFL" and result.instance.attributes["Rows"] == "64"


@functools.cache
def _bomb() -> bytes:
    return make_deflate_bomb(2**30)  # 1 GiB of zeros in about 1 MB


@pytest.mark.filterwarnings("ignore:Expected explicit VR")  # zeros look like implicit VR
@pytest.mark.parametrize(
    ("bound", "message"), [(64 * MiB, "configured bound"), (4 * 2**30, NO_SOP_UIDS)]
)
def test_deflate_bomb_is_refused_with_flat_memory(
    make_store: Callable[..., Store], ingest, residue, measure, bound: int, message: str
) -> None:
    store = make_store(max_inflated_bytes=bound)
    bomb = _bomb()
    ds = make_ct()
    measure.start()
    with pytest.raises(DatasetParseError, match=message):
        ingest(
            store,
            data=bomb,
            transfer_syntax_uid=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
            sop_class_uid=ds.SOPClassUID,
            sop_instance_uid=ds.SOPInstanceUID,
            fragment=256 * 1024,
        )
    assert measure.growth() < 8 * MiB
    assert residue() == EMPTY


def test_free_space_floor_refuses_at_begin(make_store: Callable[..., Store], residue) -> None:
    store = make_store(min_free_bytes=2**62)
    with pytest.raises(StoreFullError):
        store.begin(
            sop_class_uid="1.2.3",
            sop_instance_uid="1.2.3.4",
            transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
            calling_ae="X",
        )
    assert residue() == EMPTY


def test_free_space_is_rechecked_every_16_mib(store: Store, residue) -> None:
    incoming = store.begin(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.3.4",
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
        calling_ae="X",
    )
    store.min_free_bytes = 2**62  # the disk "fills up" during the transfer
    chunk = bytes(MiB)
    for _ in range(CHECK_FREE_EVERY // MiB - 1):
        incoming.write(chunk)  # no statvfs before 16 MiB
    assert len(residue()[0]) == 1
    with pytest.raises(StoreFullError):
        incoming.write(chunk)
    assert residue() == EMPTY
    with pytest.raises(StoreFullError):
        incoming.write(chunk)  # a failed file stays failed
    with pytest.raises(StoreFullError):
        incoming.commit()
    incoming.abort()


class _FullDisk:
    """Stands in for the temp file object: fails like a full disk."""

    def __init__(self, real: Any, code: int, on: str) -> None:
        self._real, self._code, self._on = real, code, on

    def _fail(self) -> None:
        raise OSError(self._code, "No space left on device")

    def write(self, data: Any) -> int:
        if self._on == "write":
            self._fail()
        return int(self._real.write(data))

    def flush(self) -> None:
        if self._on == "flush":
            self._fail()
        self._real.flush()

    def fileno(self) -> int:
        return int(self._real.fileno())

    def close(self) -> None:
        self._real.close()


@pytest.mark.parametrize("on", ["write", "flush"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_is_store_full_without_residue(
    store: Store,
    index: Index,
    ingest,
    residue,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    on: str,
) -> None:
    ds = make_ct()
    incoming = store.begin(
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
        calling_ae="X",
    )
    monkeypatch.setattr(incoming, "_file", _FullDisk(incoming._file, code, on))
    with pytest.raises(StoreFullError):
        incoming.write(make_dataset_bytes(ds))
        incoming.commit()
    assert residue() == EMPTY
    ingest(store, ds)  # the next transfer works
    assert residue()[2] == 1


def test_other_write_errors_are_store_errors(
    store: Store, residue, monkeypatch: pytest.MonkeyPatch
) -> None:
    incoming = store.begin(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.3.4",
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
        calling_ae="X",
    )
    monkeypatch.setattr(incoming, "_file", _FullDisk(incoming._file, errno.EIO, "write"))
    with pytest.raises(StoreError) as caught:
        incoming.write(b"1234")
    assert not isinstance(caught.value, StoreFullError)
    assert residue() == EMPTY


def test_failed_index_insert_removes_the_final_file(
    store: Store, index: Index, ingest, residue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> bool:
        raise StoreError("index database error while adding an instance: disk I/O error")

    monkeypatch.setattr(index, "add_instance", broken)
    with pytest.raises(StoreError, match="disk I/O"):
        ingest(store, make_ct())
    assert residue() == EMPTY
