"""Realistic sample DICOM data generated in code (no downloads): a CT phantom series.

Used by ``pacslink demo`` and by tests that need images with real geometry and
windowing. Pixel values are Hounsfield units stored with RescaleIntercept -1024
(PS3.3 C.11.1: modality LUT), with a soft-tissue Window Center/Width (PS3.3 C.11.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

#: Ellipsoids of a head-like phantom: centre (x, y, z), semi-axes (a, b, c), HU value.
_ELLIPSOIDS: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((0.0, 0.0, 0.0), (0.72, 0.92, 0.9), 2000.0),     # skull: air + 2000 -> 1000 HU
    ((0.0, -0.02, 0.0), (0.66, 0.86, 0.85), -960.0),  # brain: bone - 960 -> 40 HU
    ((0.22, 0.0, 0.1), (0.11, 0.31, 0.3), -30.0),     # right ventricle (CSF ~10 HU)
    ((-0.22, 0.0, 0.1), (0.16, 0.41, 0.3), -30.0),    # left ventricle
    ((0.0, 0.35, -0.2), (0.21, 0.25, 0.2), 30.0),     # lesion, enhancing
    ((0.0, -0.6, 0.0), (0.05, 0.05, 0.5), 60.0),      # small dense structure
)


def _phantom_slice(size: int, z: float) -> np.ndarray:
    """Hounsfield units of one axial slice at height ``z`` in [-1, 1]."""
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    x, y = np.meshgrid(axis, axis)
    hu = np.full((size, size), -1000.0, dtype=np.float32)
    for (cx, cy, cz), (a, b, c), value in _ELLIPSOIDS:
        inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1.0
        hu[inside] += value
    return hu


def ct_phantom_series(
    *,
    patient_id: str = "VET001",
    patient_name: str = "Rex^Demo",
    slices: int = 24,
    size: int = 256,
    study_description: str = "CT HEAD PHANTOM",
) -> Iterator[Dataset]:
    """Yield the slices of one CT series of a head phantom, ready to save.

    Parameters
    ----------
    patient_id, patient_name : str
        Patient identity written into every slice.
    slices : int
        Number of axial slices (5 mm apart).
    size : int
        Rows and Columns of each slice.
    study_description : str
        (0008,1030) Study Description.
    """
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    spacing = 200.0 / size
    for i in range(slices):
        z = -0.9 + 1.8 * i / max(slices - 1, 1)
        stored = np.clip(_phantom_slice(size, z) + 1024.0, 0, 4095).astype(np.uint16)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = "20250614"
        ds.StudyTime, ds.SeriesTime, ds.ContentTime = "093000", "093100", f"0931{i % 60:02d}"
        ds.AccessionNumber = "DEMO0001"
        ds.Modality = "CT"
        ds.Manufacturer = "pacslink sample data"
        ds.ReferringPhysicianName = "Vet^Referring"
        ds.StudyDescription = study_description
        ds.SeriesDescription = "Axial 5 mm"
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "20180301"
        ds.PatientSex = "M"
        ds.PatientWeight = "32.5"
        ds.BodyPartExamined = "HEAD"
        ds.ProtocolName = "Head routine"
        ds.PatientPosition = "HFS"
        ds.SliceThickness = "5"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyID, ds.SeriesNumber, ds.AcquisitionNumber = "1", 1, 1
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [-100.0, -100.0, round(-45.0 + 5.0 * i, 2)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = round(-45.0 + 5.0 * i, 2)
        ds.PixelSpacing = [round(spacing, 4), round(spacing, 4)]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.PixelData = stored.tobytes()
        yield ds


def write_series(folder: Path, datasets: Iterator[Dataset]) -> list[Path]:
    """Save data sets as Part 10 files ``IM0001.dcm`` ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets, 1):
        path = folder / f"IM{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
