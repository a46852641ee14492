"""CT Image Storage: an axial series through a head phantom in real Hounsfield units.

Pixel values are Hounsfield units stored as unsigned 12-bit values with Rescale Intercept
-1024 (PS3.3 C.11.1 Modality LUT), with a brain Window Center/Width (PS3.3 C.11.2). The
phantom is a set of ellipsoids painted in order, each later one replacing what it covers;
slice geometry is consistent with the phantom (Image Position (Patient), Slice Location,
Pixel Spacing and Slice Thickness all in mm).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, generate_uid

from pacslink.samples.base import (
    SamplePatient,
    SeriesInfo,
    StudyInfo,
    add_seconds,
    new_instance,
    set_pixels,
)

#: Ellipsoids of the head phantom in normalised coordinates ([-1, 1] is 200 mm):
#: centre (x, y, z), semi-axes (a, b, c), Hounsfield units. Painted in order.
ELLIPSOIDS: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((0.0, 0.0, 0.0), (0.84, 0.97, 0.96), 45.0),       # temporal muscles, skin
    ((0.0, 0.0, 0.0), (0.72, 0.92, 0.9), 1000.0),      # skull (cortical bone)
    ((0.0, -0.02, 0.0), (0.66, 0.86, 0.85), 35.0),     # brain
    ((0.22, 0.0, 0.1), (0.11, 0.31, 0.3), 8.0),        # right lateral ventricle (CSF)
    ((-0.22, 0.0, 0.1), (0.16, 0.41, 0.3), 8.0),       # left lateral ventricle, wider
    ((0.0, 0.35, -0.2), (0.21, 0.25, 0.2), 75.0),      # enhancing lesion
    ((0.0, -0.6, 0.0), (0.05, 0.05, 0.5), 95.0),       # small dense structure
    ((0.0, -0.78, 0.55), (0.18, 0.09, 0.25), -950.0),  # frontal sinus (air)
)

#: Field of view in mm of the [-1, 1] phantom square.
FIELD_OF_VIEW_MM = 200.0


class _Phantom:
    """The phantom at one in-plane size; the 2-D part of each ellipsoid is computed once."""

    def __init__(self, size: int) -> None:
        axis = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
        x, y = axis[np.newaxis, :], axis[:, np.newaxis]
        self.radial = [((x - cx) / a) ** 2 + ((y - cy) / b) ** 2
                       for (cx, cy, _), (a, b, _), _ in ELLIPSOIDS]
        self.size = size

    def slice_hu(self, z: float) -> np.ndarray:
        """Hounsfield units (float32) of the axial slice at normalised height ``z``."""
        hu = np.full((self.size, self.size), -1000.0, dtype=np.float32)
        for radial, ((_, _, cz), (_, _, c), value) in zip(self.radial, ELLIPSOIDS):
            limit = 1.0 - ((z - cz) / c) ** 2
            if limit > 0.0:
                hu[radial <= limit] = value
        return hu


def ct_series(
    patient: SamplePatient,
    study: StudyInfo,
    series: SeriesInfo | None = None,
    *,
    slices: int = 100,
    size: int = 512,
    seed: int = 1,
) -> Iterator[Dataset]:
    """Yield the slices of one axial CT series of the head phantom, ready to save.

    Parameters
    ----------
    patient, study : SamplePatient, StudyInfo
        Who and which study.
    series : SeriesInfo, optional
        Series 1, "Axial brain", a minute after the study starts, by default.
    slices : int
        Number of axial slices, evenly spread over 180 mm of the phantom.
    size : int
        Rows and Columns of each slice (200 mm field of view).
    seed : int
        Seed of the image noise (about 4 HU inside the head), so output is repeatable.

    Yields
    ------
    pydicom.dataset.Dataset
        One CT Image Storage instance per slice, feet to head, 16 bits allocated, 12 stored.
    """
    series = series or SeriesInfo("CT", 1, "Axial brain", "SKULL",
                                  add_seconds(study.study_time, 60))
    frame_of_reference_uid = generate_uid()
    phantom, rng = _Phantom(size), np.random.default_rng(seed)
    pixel_mm = FIELD_OF_VIEW_MM / size
    gap_mm = 180.0 / max(slices - 1, 1)
    for i in range(slices):
        z_mm = -90.0 + gap_mm * i
        hu = phantom.slice_hu(z_mm / (FIELD_OF_VIEW_MM / 2))
        body = hu > -900.0
        hu[body] += rng.standard_normal(int(body.sum()), dtype=np.float32) * 4.0
        stored = np.clip(np.rint(hu) + 1024.0, 0, 4095).astype(np.uint16)
        ds = new_instance(CTImageStorage, patient, study, series, instance_number=i + 1,
                          image_type=("ORIGINAL", "PRIMARY", "AXIAL"), model="Sample CT")
        ds.ProtocolName = "Head routine"
        ds.PatientPosition = "HFP"
        ds.KVP = "120"
        ds.XRayTubeCurrent = 200
        ds.ConvolutionKernel = "BRAIN"
        ds.SliceThickness = f"{gap_mm:.2f}"
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.AcquisitionNumber = 1
        ds.AcquisitionDate, ds.AcquisitionTime = study.study_date, series.series_time
        corner = -FIELD_OF_VIEW_MM / 2 + pixel_mm / 2
        ds.ImagePositionPatient = [round(corner, 4), round(corner, 4), round(z_mm, 4)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = round(z_mm, 4)
        ds.PixelSpacing = [round(pixel_mm, 6), round(pixel_mm, 6)]
        set_pixels(ds, stored, bits_stored=12)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.WindowCenter, ds.WindowWidth = ["40", "600"], ["80", "2800"]
        ds.WindowCenterWidthExplanation = ["BRAIN", "BONE"]
        yield ds


def ct_phantom_series(
    *,
    patient_id: str = "VET001",
    patient_name: str = "Rex^Demo",
    slices: int = 24,
    size: int = 256,
    study_description: str = "CT HEAD PHANTOM",
) -> Iterator[Dataset]:
    """Yield the slices of one CT head-phantom series in a new study, ready to save.

    A shortcut for :func:`ct_series` with a default canine patient.

    Parameters
    ----------
    patient_id, patient_name : str
        Patient identity written into every slice.
    slices : int
        Number of axial slices over 180 mm.
    size : int
        Rows and Columns of each slice; ``slices=100, size=512`` takes about a second.
    study_description : str
        (0008,1030) Study Description.
    """
    patient = SamplePatient(patient_id, patient_name)
    return ct_series(patient, StudyInfo(study_description), slices=slices, size=size)
