"""A 2 GB multi-frame object streams through ``pacslink listen`` with flat memory."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pacslink.aeregistry import AERegistry
from pacslink.api import Pacslink, run, scan_paths
from pacslink.services.part10 import read_part10_info
from tests.peers import allow_callers, free_port, stop, wait_for_port

pytestmark = pytest.mark.slow
SIZE = int(os.environ.get("PACSLINK_TEST_BIG_MB", "2048")) * 2**20


def sparse_multiframe(path: Path, pixel_bytes: int) -> str:
    """A Multi-frame Grayscale Word SC file whose Pixel Data is a sparse run of zeros."""
    frames = pixel_bytes // (1024 * 1024 * 2)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "BIG", generate_uid(), generate_uid()
    ds.Modality, ds.NumberOfFrames, ds.Rows, ds.Columns = "OT", frames, 1024, 1024
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.save_as(path, enforce_file_format=True)
    length = frames * 1024 * 1024 * 2
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(struct.pack("<HH2s2xL", 0x7FE0, 0x0010, b"OW", length))
        f.truncate(f.tell() + length)
    return str(ds.SOPInstanceUID)


def test_two_gigabyte_object_with_flat_memory(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free < 3 * SIZE:
        pytest.skip(f"needs {3 * SIZE // 2**20} MB free in {tmp_path}")
    source = tmp_path / "big.dcm"
    uid = sparse_multiframe(source, SIZE)
    home, port = tmp_path / "home", free_port()
    allow_callers(AERegistry.for_home(home), "PACSLINK")  # the sender's default AE title
    proc = subprocess.Popen([sys.executable, "-m", "pacslink", "--home", str(home), "listen",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc, timeout=30)
        sender = Pacslink.from_home(tmp_path / "sender", environ={})
        outcomes = run(sender.send(f"PACSLINK@127.0.0.1:{port}", scan_paths([source]).files))
        assert [o.category for o in outcomes] == ["Success"], outcomes
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    finally:
        stop(proc)
    receiver = Pacslink.from_home(home, environ={})
    row = receiver.index.get_instance(uid)
    assert row is not None
    stored = receiver.store.path_of(row)
    assert row.size == stored.stat().st_size
    # the data set arrived whole (file meta differs: it is pacslink's)
    assert read_part10_info(stored).dataset_length == read_part10_info(source).dataset_length
    print(f"listener peak RSS {peak_kb // 1024} MB")
    assert peak_kb < 200 * 1024, f"listener peak RSS {peak_kb // 1024} MB for a {SIZE >> 20} MB object"
