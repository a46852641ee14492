"""A received data set must be whole elements exactly: truncation is refused (0xC000)."""

from __future__ import annotations

import io
import struct

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacslink.errors import DatasetParseError
from pacslink.store.structure import MAX_SEQUENCE_DEPTH, check_structure
from tests.factory import make_ct, make_dataset_bytes

IMPLICIT, EXPLICIT, BIG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"
ENC = {IMPLICIT: (True, True), EXPLICIT: (False, True), BIG: (False, False)}


def with_sequences() -> Dataset:
    ds = make_ct(rows=4, columns=4)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-A0100", "SRT", "Brain"
    inner = Dataset()
    inner.CodeValue = "X"
    item.ConceptNameCodeSequence = Sequence([inner])
    ds.AnatomicRegionSequence = Sequence([item, Dataset()])
    return ds


def check(data: bytes, ts: str) -> None:
    check_structure(io.BytesIO(data), 0, len(data), *ENC[ts])


@pytest.mark.parametrize("ts", [IMPLICIT, EXPLICIT, BIG])
def test_whole_data_sets_pass(ts: str) -> None:
    check(make_dataset_bytes(with_sequences(), ts), ts)


def test_undefined_length_sequences_and_encapsulated_pixels_pass() -> None:
    from pydicom.encaps import encapsulate

    ds = with_sequences()
    for seq in (ds.AnatomicRegionSequence,):
        seq.is_undefined_length = True
        for item in seq:
            item.is_undefined_length_sequence_item = True
    ds.PixelData = encapsulate([b"\x00" * 10, b"\x01" * 20])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    check(make_dataset_bytes(ds, EXPLICIT), EXPLICIT)


@pytest.mark.parametrize("ts", [IMPLICIT, EXPLICIT, BIG])
@pytest.mark.parametrize("cut", [1, 10, 200])
def test_truncated_data_sets_are_refused(ts: str, cut: int) -> None:
    data = make_dataset_bytes(make_ct(rows=16, columns=16), ts)
    with pytest.raises(DatasetParseError, match="truncated"):
        check(data[:-cut], ts)


def test_unclosed_sequence_and_stray_delimiter() -> None:
    ds = with_sequences()
    ds.AnatomicRegionSequence.is_undefined_length = True
    data = make_dataset_bytes(ds, EXPLICIT)
    closing = data.rfind(b"\xfe\xff\xdd\xe0")
    with pytest.raises(DatasetParseError):
        check(data[:closing], EXPLICIT)
    with pytest.raises(DatasetParseError, match="stray"):
        check(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", EXPLICIT)


def test_truncated_c_store_is_refused_with_no_residue(store, residue) -> None:  # type: ignore[no-untyped-def]
    ds = make_ct(rows=16, columns=16)
    data = make_dataset_bytes(ds, EXPLICIT)[:-10]
    incoming = store.begin(sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                           transfer_syntax_uid=EXPLICIT, calling_ae="X")
    incoming.write(data)
    with pytest.raises(DatasetParseError, match="truncated"):
        incoming.commit()
    temps, objects, rows = residue()
    assert (temps, objects, rows) == ([], [], 0)


def _undefined(tag: tuple[int, int], vr: bytes) -> bytes:
    return struct.pack("<HH", *tag) + vr + b"\x00\x00" + struct.pack("<L", 0xFFFFFFFF)


_ITEM_OPEN = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_CLOSE = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQ_CLOSE = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


def test_un_sequence_of_undefined_length_is_walked_as_implicit_vr() -> None:
    """PS3.5 6.2.2: a UN value of undefined length is a sequence in Implicit VR LE."""
    code_value = struct.pack("<HHL", 0x0008, 0x0100, 4) + b"T-A0"  # implicit VR inside
    un = _undefined((0x0009, 0x1010), b"UN") + _ITEM_OPEN + code_value + _ITEM_CLOSE + _SEQ_CLOSE
    ds = make_ct(pixel_data=False)
    head = make_dataset_bytes(Dataset({t: ds[t] for t in ds.keys() if t.group < 9}), EXPLICIT)
    tail = make_dataset_bytes(Dataset({t: ds[t] for t in ds.keys() if t.group >= 9}), EXPLICIT)
    check(head + un + tail, EXPLICIT)


def test_pixel_fragments_are_not_walked_as_data_sets() -> None:
    """Fragment bytes that look like 100 nested sequences are pixels, not nesting."""
    looks_nested = (_undefined((0x0008, 0x1115), b"SQ") + _ITEM_OPEN) * 100
    fragment = struct.pack("<HHL", 0xFFFE, 0xE000, len(looks_nested)) + looks_nested
    offsets = struct.pack("<HHL", 0xFFFE, 0xE000, 0)
    pixels = _undefined((0x7FE0, 0x0010), b"OB") + offsets + fragment + _SEQ_CLOSE
    check(make_dataset_bytes(make_ct(pixel_data=False), EXPLICIT) + pixels, EXPLICIT)


@pytest.mark.parametrize("ts", [IMPLICIT, EXPLICIT])
def test_nesting_counts_defined_length_sequences_too(ts: str) -> None:
    inner = Dataset()
    inner.CodeValue = "X"
    for _ in range(MAX_SEQUENCE_DEPTH):
        outer = Dataset()
        outer.ConceptNameCodeSequence = Sequence([inner])
        inner = outer
    ds = make_ct(rows=4, columns=4)
    ds.ContentSequence = inner.ConceptNameCodeSequence  # MAX_SEQUENCE_DEPTH deep
    check(make_dataset_bytes(ds, ts), ts)  # pydicom writes defined lengths
    deeper = Dataset()
    deeper.ConceptNameCodeSequence = ds.ContentSequence
    ds.ContentSequence = Sequence([deeper])
    with pytest.raises(DatasetParseError, match=f"more than {MAX_SEQUENCE_DEPTH} deep"):
        check(make_dataset_bytes(ds, ts), ts)
