"""The one-pass scan of received data sets gives exactly what the pydicom path gives.

For every data set it accepts, :func:`pacslink.store.scan.scan` +
:func:`~pacslink.store.record.values_from_raw` must produce the same index values as
:func:`~pacslink.store.parse.parse_header` + :func:`~pacslink.store.record.values_from_dataset`;
everything unusual it must hand back (``None``) so that the full parser decides.
"""

from __future__ import annotations

import io

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacslink.store import Store
from pacslink.store.parse import encoding_of, parse_header
from pacslink.store.record import values_from_dataset, values_from_raw
from pacslink.store.scan import scan
from tests.factory import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    make_ct,
    make_dataset_bytes,
)

SYNTAXES = [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN]


def scan_bytes(data: bytes, ts: str, head: int | None = None) -> dict | None:  # type: ignore[type-arg]
    """Scan ``data`` with only ``head`` bytes in memory (all by default)."""
    kept = data if head is None else data[:head]
    reads: list[tuple[int, int]] = []

    def read_at(offset: int, size: int) -> bytes:
        reads.append((offset, size))
        return data[offset : offset + size]

    raw = scan(kept, read_at, len(data), *encoding_of(ts))
    if head is None:
        assert reads == []
    if raw is None:
        return None
    return values_from_raw(raw, encoding_of(ts)[1])


def slow_values(data: bytes, ts: str) -> dict:  # type: ignore[type-arg]
    return values_from_dataset(parse_header(io.BytesIO(data), ts, max_inflated_bytes=2**30))


def with_sequences(undefined: bool) -> Dataset:
    ds = make_ct(rows=4, columns=4)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-A0100", "SRT", "Brain"
    inner = Dataset()
    inner.CodeValue = "X"
    item.ConceptNameCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, Dataset()])  # (0008,1140): before the stop
    ds.AnatomicRegionSequence = Sequence([item])  # (0008,2218)
    if undefined:
        for seq in (ds.ReferencedImageSequence, ds.AnatomicRegionSequence):
            seq.is_undefined_length = True
            for each in seq:
                each.is_undefined_length_sequence_item = True
    return ds


CASES = {
    "plain CT": lambda: make_ct(),
    "Latin-1 names": lambda: make_ct(patient_name="Müller^Jörg", StudyDescription="Schädel"),
    "Japanese, ISO 2022": lambda: make_ct(
        SpecificCharacterSet=["", "ISO 2022 IR 87"],
        patient_name="Yamada^Tarou=\033$B;3ED\033(B^\033$BB@O:\033(B"),
    "UTF-8": lambda: make_ct(SpecificCharacterSet="ISO_IR 192", patient_name="Γιώργος^Ñandú"),
    "no charset, empty values": lambda: make_ct(
        SpecificCharacterSet=None, StudyDescription="", PatientSex="", SeriesNumber=None),
    "multi-valued, padded": lambda: make_ct(ImageType=["DERIVED", "SECONDARY", ""],
                                             AccessionNumber=" A1 "),
    "no pixel data": lambda: make_ct(pixel_data=False),
    "sequences, defined length": lambda: with_sequences(False),
    "sequences, undefined length": lambda: with_sequences(True),
    "multi-frame": lambda: make_ct(NumberOfFrames=3, rows=8, columns=8),
}


@pytest.mark.parametrize("ts", SYNTAXES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_scan_gives_the_values_pydicom_gives(case: str, ts: str) -> None:
    data = make_dataset_bytes(CASES[case](), ts)
    fast = scan_bytes(data, ts)
    assert fast is not None, "the common case must take the fast path"
    assert fast == slow_values(data, ts)
    assert list(fast) == list(slow_values(data, ts))


@pytest.mark.parametrize("ts", SYNTAXES)
def test_malformed_values_become_none_on_both_paths(ts: str) -> None:
    data = make_dataset_bytes(make_ct(), ts)
    nul_name = b"\x00\x00\\\\\x00\x00\x00\x00"  # NULs and empty values
    for good, bad in ((b"61.5", b"inf "), (b"-12.5 ", b"abc.x "), (b"Doe^Jane", nul_name)):
        assert data.count(good) == 1 and len(good) == len(bad)
        data = data.replace(good, bad)
    fast = scan_bytes(data, ts)
    assert fast is not None and fast == slow_values(data, ts)
    assert fast["PatientWeight"] is None and fast["SliceLocation"] is None


@pytest.mark.parametrize("ts", SYNTAXES)
def test_scan_reads_past_the_kept_head_from_the_file(ts: str) -> None:
    data = make_dataset_bytes(make_ct(rows=128, columns=128, PixelPaddingValue=0), ts)
    for head in (0, 7, 100, 300):
        assert scan_bytes(data, ts, head=head) == slow_values(data, ts)


@pytest.mark.parametrize("ts", SYNTAXES)
@pytest.mark.parametrize("cut", [1, 7, 10, 200])
def test_truncated_data_sets_are_left_to_the_full_check(ts: str, cut: int) -> None:
    data = make_dataset_bytes(make_ct(rows=16, columns=16), ts)
    assert scan_bytes(data[:-cut], ts) is None


def test_unusual_data_sets_are_left_to_the_full_parser() -> None:
    explicit = make_dataset_bytes(make_ct(), EXPLICIT_VR_LITTLE_ENDIAN)
    implicit = make_dataset_bytes(make_ct(), IMPLICIT_VR_LITTLE_ENDIAN)
    assert scan_bytes(implicit, EXPLICIT_VR_LITTLE_ENDIAN) is None  # wrong encoding announced
    assert scan_bytes(explicit, IMPLICIT_VR_LITTLE_ENDIAN) is None
    assert scan_bytes(b"", EXPLICIT_VR_LITTLE_ENDIAN) is None
    assert scan_bytes(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", EXPLICIT_VR_LITTLE_ENDIAN) is None
    assert scan_bytes(explicit + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00",
                      EXPLICIT_VR_LITTLE_ENDIAN) is None  # a stray delimiter at the end
    bad_vr = explicit.replace(b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00Ui", 1)
    assert bad_vr != explicit and scan_bytes(bad_vr, EXPLICIT_VR_LITTLE_ENDIAN) is None
    no_uids = make_dataset_bytes(make_ct(SOPClassUID=None, SOPInstanceUID=None))
    assert scan_bytes(no_uids, EXPLICIT_VR_LITTLE_ENDIAN) is None
    # an undefined-length value among the indexed attributes that is not a sequence
    odd = Dataset()
    odd.SOPClassUID, odd.SOPInstanceUID = "1.2.3", "1.2.3.4"
    data = make_dataset_bytes(odd, EXPLICIT_VR_LITTLE_ENDIAN)
    data = (b"\x08\x00\x01\x00UN\x00\x00\xff\xff\xff\xff"  # (0008,0001) UN, undefined
            b"\xfe\xff\xdd\xe0\x00\x00\x00\x00") + data
    assert scan_bytes(data, EXPLICIT_VR_LITTLE_ENDIAN) is None


def test_the_store_takes_either_path_with_the_same_outcome(store: Store, ingest) -> None:  # type: ignore[no-untyped-def]
    ds = with_sequences(True)
    ds.PatientName = "Müller^Jörg"
    data = make_dataset_bytes(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    odd = (b"\x08\x00\x01\x00UN\x00\x00\xff\xff\xff\xff\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    fast = ingest(store, ds, data=data)
    slow_ds = with_sequences(True)
    slow = ingest(store, slow_ds, data=odd + make_dataset_bytes(slow_ds, EXPLICIT_VR_LITTLE_ENDIAN))
    assert fast.instance.attributes["PatientName"] == "Müller^Jörg"
    assert slow.instance.attributes["PatientID"] == fast.instance.attributes["PatientID"]
    assert store.path_of(fast.instance).read_bytes().endswith(data)


def nested(levels: int, undefined: bool) -> Dataset:
    """A CT whose Referenced Image Sequence nests ``levels`` sequences deep."""
    ds = make_ct(rows=4, columns=4)
    inner = Dataset()
    inner.CodeValue = "X"
    for _ in range(levels - 1):
        outer = Dataset()
        outer.ConceptNameCodeSequence = Sequence([inner])
        outer.ConceptNameCodeSequence.is_undefined_length = undefined
        inner = outer
    ds.ReferencedImageSequence = Sequence([inner])
    ds.ReferencedImageSequence.is_undefined_length = undefined
    return ds


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("ts", SYNTAXES)
def test_nesting_is_walked_whatever_the_lengths(ts: str, undefined: bool) -> None:
    """Defined-length sequences are walked, not skipped: too deep goes to the full check."""
    assert scan_bytes(make_dataset_bytes(nested(10, undefined), ts), ts) is not None
    assert scan_bytes(make_dataset_bytes(nested(40, undefined), ts), ts) is None
