"""Digital X-Ray Image Storage - For Presentation: thorax radiographs of a quadruped.

The image is a projection: each structure of the thorax (body wall, lungs, heart,
spine, ribs, sternum) adds ``mu * path length`` to the attenuation along the beam,
computed analytically for ellipsoids and rib tubes, plus quantum noise.

Photometric Interpretation is **MONOCHROME1**, chosen deliberately: many CR and DX
systems send it, and a viewer that forgets to invert shows bones black. Stored values
therefore rise with the X-ray intensity reaching the detector: air is bright in the
data (16383 at most, 14 bits stored) and shown black; bone is low and shown white. That
fixes, per PS3.3 C.8.11.3 DX Image Module, Presentation LUT Shape ``INVERSE``, Pixel
Intensity Relationship ``LOG`` and Pixel Intensity Relationship Sign ``+1`` (lower values
mean less X-ray intensity). Window Center/Width apply to stored values, before the
inversion, as PS3.3 C.11.2 says.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DigitalXRayImageStorageForPresentation

from pacslink.samples.base import (
    SamplePatient,
    SeriesInfo,
    StudyInfo,
    add_seconds,
    new_instance,
    set_pixels,
)

#: Projected ellipsoids per view: centre (x, y), semi-axes (a, b), depth (c), mu.
#: Coordinates are normalised, [-1, 1] across the detector; ``mu`` per unit depth.
_VIEWS: dict[str, tuple[tuple[float, float, float, float, float, float], ...]] = {
    "VD": (
        (0.0, 0.05, 0.62, 0.95, 0.55, 1.0),      # body wall and abdomen
        (-0.27, -0.12, 0.24, 0.55, 0.35, -0.8),  # right lung (air)
        (0.27, -0.12, 0.24, 0.55, 0.35, -0.8),   # left lung
        (0.05, 0.02, 0.2, 0.3, 0.3, 0.85),       # heart
        (0.0, 0.75, 0.5, 0.3, 0.35, 0.25),       # liver
        (0.0, 0.0, 0.05, 0.93, 0.05, 3.0),       # spine (superimposed on sternum)
    ),
    "LAT": (
        (0.0, 0.0, 0.95, 0.6, 0.45, 1.0),        # body wall, cranial to the left
        (-0.15, -0.12, 0.55, 0.33, 0.4, -0.8),   # lungs
        (-0.1, 0.1, 0.27, 0.3, 0.28, 0.85),      # heart
        (0.0, -0.4, 0.62, 0.05, 0.06, 3.0),      # spine, dorsal (top)
        (-0.1, 0.45, 0.5, 0.03, 0.04, 3.0),      # sternum, ventral
    ),
}
#: Patient Orientation (PS3.3 C.7.6.1.1.1, quadruped terms) of each view.
_ORIENTATION = {"VD": ["LE", "CD"], "LAT": ["CD", "V"]}
_DESCRIPTION = {"VD": "Thorax VD", "LAT": "Thorax right lateral"}
MAX_VALUE = 2**14 - 1


def _attenuation(view: str, size: int) -> np.ndarray:
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    x, y = axis[np.newaxis, :], axis[:, np.newaxis]
    total = np.zeros((size, size), dtype=np.float32)
    for cx, cy, a, b, c, mu in _VIEWS[view]:
        inside = 1.0 - ((x - cx) / a) ** 2 - ((y - cy) / b) ** 2
        total += mu * 2.0 * c * np.sqrt(np.maximum(inside, 0.0))
    cx, cy, a, b = _VIEWS[view][0][:4]
    inside_body = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 < 0.9
    result: np.ndarray = total + _ribs(view, x, y) * inside_body
    return result


def _ribs(view: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Thirteen pairs of ribs: arcs of elliptic rings, bone tubes 0.03 thick."""
    ribs = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
    for k in range(13):
        if view == "VD":  # arcs from the spine, out and caudally
            cy, a, b = -0.62 + 0.095 * k + 0.18, 0.55 + 0.004 * k, 0.18
            ring = np.sqrt((x / a) ** 2 + ((y - cy) / b) ** 2)
            keep = y <= cy
        else:  # near-vertical arcs from spine (top) to sternum (bottom)
            cx, a, b = -0.6 + 0.085 * k + 0.25, 0.25, 0.43
            ring = np.sqrt(((x - cx) / a) ** 2 + ((y - 0.02) / b) ** 2)
            keep = x <= cx
        band = np.maximum(1.0 - ((ring - 1.0) / 0.03) ** 2, 0.0)
        ribs += np.where(keep, 0.15 * np.sqrt(band), 0.0).astype(np.float32)
    return ribs


def dx_image(
    patient: SamplePatient,
    study: StudyInfo,
    series: SeriesInfo | None = None,
    *,
    view: str = "VD",
    size: int = 1024,
    instance_number: int = 1,
    seed: int = 3,
) -> Dataset:
    """Return one thorax radiograph, DX For Presentation, MONOCHROME1, 14 of 16 bits.

    Parameters
    ----------
    patient, study, series : SamplePatient, StudyInfo, SeriesInfo
        Who, which study and which series (Modality ``DX``); by default series 1,
        "Thorax", a minute after the study starts.
    view : {"VD", "LAT"}
        Ventrodorsal or right lateral projection.
    size : int
        Rows and Columns; the detector is 0.2 mm per pixel at 1024 (a 205 mm plate).
    instance_number : int
        (0020,0013) Instance Number.
    seed : int
        Seed of the quantum noise, so output is repeatable.
    """
    if view not in _VIEWS:
        raise ValueError(f"view must be one of {sorted(_VIEWS)}, not {view!r}")
    attenuation = _attenuation(view, size)
    intensity = np.exp(-1.6 * attenuation)  # fraction of the beam reaching the detector
    rng = np.random.default_rng(seed)
    intensity *= 1.0 + 0.01 * rng.standard_normal(intensity.shape, dtype=np.float32)
    log_signal = np.log(np.maximum(intensity, 1e-4))  # 0 for air, negative for tissue
    stored = np.clip(np.rint(MAX_VALUE + log_signal * 2200.0), 0, MAX_VALUE).astype(np.uint16)

    series = series or SeriesInfo("DX", 1, "Thorax", "CHEST",
                                  add_seconds(study.study_time, 60))
    ds = new_instance(DigitalXRayImageStorageForPresentation, patient, study, series,
                      instance_number=instance_number, image_type=("ORIGINAL", "PRIMARY"),
                      model="Sample DR")
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageComments = _DESCRIPTION[view]
    ds.PatientOrientation = _ORIENTATION[view]
    ds.ImageLaterality = "U"
    ds.AnatomicRegionSequence = Sequence([_code("51185008", "SCT", "Thorax")])
    ds.KVP, ds.ExposureInuAs, ds.DistanceSourceToDetector = "70", 6000, "1000"
    ds.PositionerType = "COLUMN"
    ds.DetectorType, ds.DetectorID = "SCINTILLATOR", "DET0001"
    spacing = round(0.2 * 1024 / size, 6)
    ds.ImagerPixelSpacing = ds.PixelSpacing = [spacing, spacing]
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.PixelSpacingCalibrationDescription = "Imager spacing at the detector plane"
    ds.EstimatedRadiographicMagnificationFactor = "1.0"
    ds.AcquisitionContextSequence = Sequence()
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    set_pixels(ds, stored, bits_stored=14, photometric="MONOCHROME1")
    ds.PixelIntensityRelationship, ds.PixelIntensityRelationshipSign = "LOG", 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    ds.PresentationLUTShape = "INVERSE"
    body = stored[stored < MAX_VALUE - 300]
    low, high = np.percentile(body, [1, 99]) if body.size else (0.0, float(MAX_VALUE))
    ds.WindowCenter = str(int((low + high) / 2))
    ds.WindowWidth = str(max(int(high - low), 1))
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item
