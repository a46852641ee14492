"""Shared pieces of the benchmarks: data generation, peers, timing, reporting."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from pacslink.aeregistry import AERegistry
from tests.peers import allow_callers, free_port, stop, wait_for_port

#: Debian's DCMTK stalls on delayed ACKs unless TCP_NODELAY is set in its environment.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def make_ct_series(folder: Path, count: int, size: int = 512) -> list[Path]:
    """Write ``count`` 16-bit ``size`` x ``size`` CT images (Explicit VR LE) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    rng = np.random.default_rng(42)
    pixels = rng.integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.PatientID, ds.PatientName = "BENCH001", "Bench^Mark"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.InstanceNumber = "CT", i + 1
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels
        path = folder / f"ct{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def pacslink_listener(home: Path, port: int) -> subprocess.Popen[bytes]:
    """``pacslink listen`` on ``port``, accepting DCMTK storescu's calling AE title."""
    allow_callers(AERegistry.for_home(home), "STORESCU")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacslink", "--home", str(home), "listen", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc, timeout=30)
    return proc


def storescp(out: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["storescp", *extra, "-aet", "PACSLINK", "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DCMTK_ENV,
    )
    wait_for_port(port, proc)
    return proc


def timed(cmd: Sequence[str]) -> float:
    start = time.perf_counter()
    subprocess.run(list(cmd), check=True, env=DCMTK_ENV, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - start


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


__all__ = ["DCMTK_ENV", "fresh", "free_port", "make_ct_series", "median", "pacslink_listener",
           "stop", "storescp", "timed"]
