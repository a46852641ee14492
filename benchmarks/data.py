"""Test data written once per run: CT series, tiny objects, 100 MB multi-frame objects.

Each kind is encoded once with pydicom (Explicit VR Little Endian, Part 10) with
placeholder UIDs of a fixed length; every further instance is that byte string with
new UIDs of the same length put in, so 5,000 files take well under a second and the
pixel data (NumPy, a fixed seed) is generated once per kind.
"""

from __future__ import annotations

import io
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

if TYPE_CHECKING:
    from benchmarks.common import Sizes

MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"
PATIENT_ID = "BENCH001"


class _Uids:
    """UIDs ``2.25.<39 digits>`` (44 characters, even: no padding), all distinct.

    They count up from a random 39-digit start, so every UID has the same length.
    """

    def __init__(self) -> None:
        low = 10**38
        self._next = low + secrets.randbelow(10**39 - low - 10**9)

    def __call__(self) -> str:
        self._next += 1
        return f"2.25.{self._next}"


_uid = _Uids()


@dataclass(frozen=True)
class Series:
    """Files of one generated series and what a query or retrieve needs to know."""

    paths: tuple[Path, ...]
    study_instance_uid: str
    series_instance_uid: str
    total_bytes: int

    @property
    def count(self) -> int:
        return len(self.paths)

    @property
    def folder(self) -> Path:
        return self.paths[0].parent


def _template(sop_class: str, rows: int, columns: int, frames: int,
              sop_uid: str, study_uid: str, series_uid: str) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientID, ds.PatientName = PATIENT_ID, "Bench^Mark"
    ds.PatientBirthDate, ds.PatientSex = "20200101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20250101", "120000", "1"
    ds.AccessionNumber, ds.StudyDescription = "BENCH", "Benchmark"
    ds.Modality = "CT" if sop_class == CTImageStorage else "OT"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    rng = np.random.default_rng(42)
    ds.PixelData = rng.integers(0, 4096, rows * columns * frames, dtype=np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_series(folder: Path, count: int, *, sop_class: str = CTImageStorage,
                 rows: int = 512, columns: int = 512, frames: int = 1,
                 prefix: str = "im") -> Series:
    """Write ``count`` instances of one new study/series into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    placeholder, study_ph, series_ph = _uid(), _uid(), _uid()
    template = _template(sop_class, rows, columns, frames, placeholder, study_ph, series_ph)
    study_uid, series_uid = _uid(), _uid()
    base = (template.replace(study_ph.encode(), study_uid.encode())
            .replace(series_ph.encode(), series_uid.encode()))
    old = placeholder.encode()
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:05d}.dcm"
        path.write_bytes(base.replace(old, _uid().encode()))
        paths.append(path)
    return Series(tuple(paths), study_uid, series_uid, len(base) * count)


class DataCache:
    """Each kind of data is written on first use and reused for the rest of the run."""

    def __init__(self, root: Path, sizes: Sizes) -> None:
        self.root = root
        self.sizes = sizes
        self._made: dict[str, Series] = {}
        self._lock = threading.Lock()  # scenarios may run in threads (--jobs, quick only)

    def _get(self, kind: str, **kwargs: int | str) -> Series:
        with self._lock:
            if kind not in self._made:
                self._made[kind] = write_series(self.root / kind,
                                                **kwargs)  # type: ignore[arg-type]
            return self._made[kind]

    def ct(self) -> Series:
        """``ct_count`` CT images of ``ct_size``² 16-bit pixels (512 KB each at 512)."""
        s = self.sizes
        return self._get("ct", count=s.ct_count, rows=s.ct_size, columns=s.ct_size)

    def tiny(self) -> Series:
        """``tiny_count`` CT images of about 2 KB (24 x 24 pixels)."""
        return self._get("tiny", count=self.sizes.tiny_count, rows=24, columns=24)

    def multiframe(self) -> Series:
        """``mf_count`` multi-frame objects (100 MiB each at 200 frames of 512²)."""
        s = self.sizes
        return self._get("multiframe", count=s.mf_count, sop_class=MF_GRAYSCALE_WORD_SC,
                         rows=s.mf_size, columns=s.mf_size, frames=s.mf_frames)

    def find(self) -> Series:
        """``find_matches`` tiny images in one series: one C-FIND response each."""
        return self._get("find", count=self.sizes.find_matches, rows=8, columns=8)

    def small_study(self) -> Series:
        """Three tiny images in one study (what each federated AE holds)."""
        return self._get("small", count=3, rows=8, columns=8)
