"""MR Image Storage, JPEG 2000 lossless: T1- and T2-weighted axial series of the head phantom.

The anatomy is the CT head phantom (:mod:`pacslink.samples.ct`) with MR signal values per
tissue, a smooth coil-sensitivity bias and Rician noise (the magnitude of complex Gaussian
noise), so the images look like MR and compress like MR. Each slice is encoded with
JPEG 2000 Image Compression (Lossless Only), 1.2.840.10008.1.2.4.90 (PS3.5 A.4.4), by
pydicom's encoder backed by pylibjpeg-openjpeg; decoding gives back the exact values.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, MRImageStorage, generate_uid

from pacslink.samples.base import (
    SamplePatient,
    SeriesInfo,
    StudyInfo,
    add_seconds,
    new_instance,
    set_pixels,
)
from pacslink.samples.ct import ELLIPSOIDS

#: Signal per CT ellipsoid (same order as ``ELLIPSOIDS``) for T1 and T2 weighting.
_SIGNAL = {
    "T1": (900.0, 120.0, 1300.0, 350.0, 350.0, 2400.0, 1500.0, 0.0),
    "T2": (700.0, 90.0, 1100.0, 3000.0, 3000.0, 1900.0, 500.0, 0.0),
}
#: Timing per weighting: Repetition Time, Echo Time (ms), Echo Train Length, sequence.
_TIMING = {"T1": ("550", "12", 1, "SE"), "T2": ("4200", "95", 16, "SE")}
FIELD_OF_VIEW_MM = 200.0


def _mr_slice(weighting: str, size: int, z: float, rng: np.random.Generator) -> np.ndarray:
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    x, y = axis[np.newaxis, :], axis[:, np.newaxis]
    signal = np.zeros((size, size), dtype=np.float32)
    for ((cx, cy, cz), (a, b, c), _), value in zip(ELLIPSOIDS, _SIGNAL[weighting]):
        limit = 1.0 - ((z - cz) / c) ** 2
        if limit > 0.0:
            signal[((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= limit] = value
    signal *= 1.0 + 0.25 * np.exp(-((x + 0.2) ** 2 + (y + 0.9) ** 2) / 0.5)  # coil near
    noise = rng.standard_normal((2, size, size), dtype=np.float32) * 25.0
    magnitude: np.ndarray = np.hypot(signal + noise[0], noise[1])
    return magnitude


def mr_series(
    patient: SamplePatient,
    study: StudyInfo,
    series: SeriesInfo | None = None,
    *,
    weighting: str = "T2",
    slices: int = 20,
    size: int = 256,
    frame_of_reference_uid: str = "",
    compress: bool = True,
    seed: int = 2,
) -> Iterator[Dataset]:
    """Yield one axial MR series of the head phantom, JPEG 2000 lossless by default.

    Parameters
    ----------
    patient, study : SamplePatient, StudyInfo
        Who and which study.
    series : SeriesInfo, optional
        Series 1, "Ax T2 SE" (after ``weighting``), a minute after the study, by default.
    weighting : {"T1", "T2"}
        Contrast: CSF dark on T1, bright on T2.
    slices : int
        Number of slices, 4 mm apart (3.5 mm thick), centred on the phantom.
    size : int
        Rows and Columns (200 mm field of view).
    frame_of_reference_uid : str
        Shared by series acquired together; a new one by default.
    compress : bool
        Encode Pixel Data with JPEG 2000 lossless (1.2.840.10008.1.2.4.90); ``False``
        keeps Explicit VR Little Endian.
    seed : int
        Seed of the noise, so output is repeatable.

    Yields
    ------
    pydicom.dataset.Dataset
        One MR Image Storage instance per slice, 16 bits allocated, 12 stored.
    """
    if weighting not in _SIGNAL:
        raise ValueError(f"weighting must be one of {sorted(_SIGNAL)}, not {weighting!r}")
    series = series or SeriesInfo("MR", 1, f"Ax {weighting} SE", "SKULL",
                                  add_seconds(study.study_time, 60))
    frame_of_reference_uid = frame_of_reference_uid or generate_uid()
    rng = np.random.default_rng(seed)
    pixel_mm = FIELD_OF_VIEW_MM / size
    tr, te, etl, scanning = _TIMING[weighting]
    for i in range(slices):
        z_mm = 4.0 * (i - (slices - 1) / 2)
        stored = np.clip(np.rint(_mr_slice(weighting, size, z_mm / 100.0, rng)), 0, 4095)
        ds = new_instance(MRImageStorage, patient, study, series, instance_number=i + 1,
                          image_type=("ORIGINAL", "PRIMARY", "OTHER"), model="Sample MR")
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = scanning, "NONE", ""
        ds.MRAcquisitionType = "2D"
        ds.SequenceName = f"se2d{etl}"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = tr, te, etl
        ds.ImagedNucleus, ds.MagneticFieldStrength = "1H", "1.5"
        ds.SliceThickness, ds.SpacingBetweenSlices = "3.5", "4"
        ds.PatientPosition = "HFP"
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.AcquisitionNumber = 1
        corner = -FIELD_OF_VIEW_MM / 2 + pixel_mm / 2
        ds.ImagePositionPatient = [round(corner, 4), round(corner, 4), round(z_mm, 4)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = round(z_mm, 4)
        ds.PixelSpacing = [round(pixel_mm, 6), round(pixel_mm, 6)]
        set_pixels(ds, stored.astype(np.uint16), bits_stored=12)
        level = 1700 if weighting == "T2" else 1200
        ds.WindowCenter, ds.WindowWidth = str(level), str(2 * level)
        if compress:
            ds.compress(JPEG2000Lossless, generate_instance_uid=False)
        yield ds
