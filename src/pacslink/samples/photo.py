"""VL Photographic Image Storage: a clinical photograph of the patient, RGB 8-bit.

A synthetic "photo": a lit wall and an exam table, the animal drawn from shaded
ellipses in its coat colours, a yellow measuring scale, lens vignetting and sensor
noise. Modality ``XC`` (external-camera photography), RGB colour-by-pixel (Planar
Configuration 0), per PS3.3 A.33.4 VL Photographic Image IOD.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import VLPhotographicImageStorage

from pacslink.samples.base import (
    SamplePatient,
    SeriesInfo,
    StudyInfo,
    add_seconds,
    new_instance,
    set_pixels,
)

#: Coat colours (main, secondary) as RGB in [0, 1].
COATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "black": ((0.12, 0.11, 0.11), (0.93, 0.9, 0.86)),
    "red": ((0.78, 0.45, 0.2), (0.96, 0.91, 0.8)),
    "yellow": ((0.88, 0.72, 0.45), (0.95, 0.88, 0.72)),
    "tabby": ((0.55, 0.5, 0.45), (0.9, 0.88, 0.85)),
}


class _Canvas:
    def __init__(self, rows: int, columns: int) -> None:
        self.scale = rows
        self.y = np.arange(rows, dtype=np.float32)[:, np.newaxis] / rows
        self.x = np.arange(columns, dtype=np.float32)[np.newaxis, :] / rows
        self.rgb = np.zeros((rows, columns, 3), dtype=np.float32)

    def ellipse(self, cx: float, cy: float, a: float, b: float,
                colour: tuple[float, float, float], tilt: float = 0.0) -> None:
        """Paint a shaded ellipse, lit from the upper left."""
        c, s = np.cos(tilt), np.sin(tilt)
        u, v = (self.x - cx) * c + (self.y - cy) * s, (self.y - cy) * c - (self.x - cx) * s
        r2 = (u / a) ** 2 + (v / b) ** 2
        inside = r2 <= 1.0
        light = 0.75 + 0.3 * np.sqrt(np.maximum(1.0 - r2, 0.0)) - 0.15 * (u / a + v / b) / 2
        shade = np.clip(light, 0.3, 1.1)[..., np.newaxis] * np.asarray(colour, np.float32)
        self.rgb = np.where(inside[..., np.newaxis], shade, self.rgb)

    def box(self, x0: float, y0: float, x1: float, y1: float,
            colour: tuple[float, float, float]) -> None:
        inside = (self.x >= x0) & (self.x < x1) & (self.y >= y0) & (self.y < y1)
        self.rgb[inside] = colour


def _photo(rows: int, columns: int, coat: str, seed: int) -> np.ndarray:
    main, second = COATS[coat]
    cv = _Canvas(rows, columns)
    wall = 0.78 + 0.12 * (1.0 - cv.y) - 0.05 * np.abs(cv.x - 0.67)
    cv.rgb[:] = wall[..., np.newaxis] * np.asarray((1.0, 0.94, 0.84), np.float32)
    table = (0.55 + 0.3 * (cv.y - 0.66))[..., np.newaxis] * np.asarray((0.62, 0.68, 0.74))
    cv.rgb = np.where((cv.y >= 0.66)[..., np.newaxis], table, cv.rgb).astype(np.float32)
    mid = columns / rows / 2
    for leg in (-0.27, -0.14, 0.16, 0.29):
        cv.box(mid + leg - 0.035, 0.55, mid + leg + 0.035, 0.8, main)
        cv.ellipse(mid + leg, 0.8, 0.045, 0.025, second)            # paws
    cv.ellipse(mid + 0.46, 0.4, 0.14, 0.035, main, tilt=-0.7)       # tail
    cv.ellipse(mid + 0.02, 0.5, 0.38, 0.17, main)                    # body
    cv.ellipse(mid - 0.18, 0.55, 0.12, 0.1, second)                  # chest
    cv.ellipse(mid - 0.38, 0.2, 0.06, 0.1, main, tilt=0.5)           # ears
    cv.ellipse(mid - 0.18, 0.2, 0.06, 0.1, main, tilt=-0.5)
    cv.ellipse(mid - 0.28, 0.3, 0.14, 0.13, main)                    # head
    cv.ellipse(mid - 0.28, 0.38, 0.08, 0.06, second)                 # muzzle
    cv.ellipse(mid - 0.28, 0.35, 0.025, 0.018, (0.05, 0.04, 0.04))   # nose
    for eye in (-0.34, -0.22):
        cv.ellipse(mid + eye, 0.27, 0.018, 0.014, (0.08, 0.05, 0.03))
    cv.box(0.1, 0.88, 0.1 + 0.5, 0.93, (0.95, 0.8, 0.1))             # measuring scale
    for tick in range(11):
        cv.box(0.1 + 0.05 * tick, 0.88, 0.1 + 0.05 * tick + 0.004, 0.905, (0.1, 0.1, 0.1))
    vignette = 1.0 - 0.35 * ((cv.x - mid) ** 2 + (cv.y - 0.5) ** 2)
    noise = np.random.default_rng(seed).normal(0.0, 0.015, cv.rgb.shape).astype(np.float32)
    return np.clip((cv.rgb * vignette[..., np.newaxis] + noise) * 255.0, 0, 255).astype(np.uint8)


def vl_photo(
    patient: SamplePatient,
    study: StudyInfo,
    series: SeriesInfo | None = None,
    *,
    coat: str = "black",
    rows: int = 480,
    columns: int = 640,
    instance_number: int = 1,
    seed: int = 5,
) -> Dataset:
    """Return one clinical photograph, VL Photographic Image Storage, RGB 8-bit.

    Parameters
    ----------
    patient, study, series : SamplePatient, StudyInfo, SeriesInfo
        Who, which study and which series (Modality ``XC``); by default series 1,
        "Clinical photograph", a minute after the study starts.
    coat : str
        Coat colours, a key of ``COATS``.
    rows, columns : int
        Image size.
    instance_number : int
        (0020,0013) Instance Number.
    seed : int
        Seed of the sensor noise, so output is repeatable.
    """
    if coat not in COATS:
        raise ValueError(f"coat must be one of {sorted(COATS)}, not {coat!r}")
    series = series or SeriesInfo("XC", 1, "Clinical photograph", "WHOLEBODY",
                                  add_seconds(study.study_time, 60))
    ds = new_instance(VLPhotographicImageStorage, patient, study, series,
                      instance_number=instance_number, image_type=("ORIGINAL", "PRIMARY"),
                      model="Sample Camera")
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.AcquisitionContextSequence = Sequence()
    ds.AcquisitionDateTime = study.study_date + ds.ContentTime
    set_pixels(ds, _photo(rows, columns, coat, seed), bits_stored=8, photometric="RGB")
    return ds
