"""US Multi-frame Image Storage: an echocardiography cine with colour Doppler, in RGB.

A sector (fan) B-mode image with speckle, in which the left ventricle beats: a bright
myocardial ring around a dark blood pool whose radii follow the cardiac cycle. During
filling (diastole) a red colour-Doppler jet shows flow towards the transducer; during
ejection (systole) a blue one shows flow away. Frames are RGB, colour-by-pixel
(Planar Configuration 0). The Cine module (PS3.3 C.7.6.5) gives Frame Time and Cine Rate;
the Multi-frame module's Frame Increment Pointer points at Frame Time (0018,1063).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UltrasoundMultiFrameImageStorage

from pacslink.samples.base import (
    SamplePatient,
    SeriesInfo,
    StudyInfo,
    add_seconds,
    new_instance,
    set_pixels,
)


def _cine_frames(frames: int, rows: int, columns: int, frame_time_ms: float,
                 heart_rate_bpm: float, seed: int) -> np.ndarray:
    """``(frames, rows, columns, 3)`` uint8 RGB frames."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows, dtype=np.float32)[:, np.newaxis] / rows   # depth, 0 at the probe
    x = (np.arange(columns, dtype=np.float32)[np.newaxis, :] - columns / 2) / rows
    depth, angle = np.hypot(x, y + 0.05), np.arctan2(x, y + 0.05)
    sector = (np.abs(angle) < 0.6) & (depth > 0.06) & (depth < 0.98)
    tissue = 0.35 + 0.25 * np.exp(-((depth - 0.85) / 0.1) ** 2)   # pericardium far field
    gain = np.exp(-0.6 * depth)                                   # attenuation with depth
    # Speckle: Rayleigh amplitude, fixed in the tissue, slightly decorrelated per frame.
    speckle = rng.rayleigh(0.8, (rows, columns)).astype(np.float32)
    out = np.zeros((frames, rows, columns, 3), dtype=np.uint8)
    cy, cx = 0.52, 0.0
    for f in range(frames):
        phase = 2 * np.pi * (f * frame_time_ms / 1000.0) * heart_rate_bpm / 60.0
        contraction = 0.5 - 0.5 * np.cos(phase)  # 0 relaxed (end-diastole), 1 contracted
        a, b = 0.17 - 0.05 * contraction, 0.27 - 0.06 * contraction
        r = np.hypot((x - cx) / a, (y - cy) / b)
        wall_r = 1.0 + 0.45 + 0.25 * contraction  # the wall thickens as it contracts
        echo = np.where(r < 1.0, 0.04, np.where(r < wall_r, 0.85, tissue))
        frame_speckle = 0.8 * speckle + 0.2 * rng.rayleigh(0.8, (rows, columns))
        gray = np.clip(echo * gain * frame_speckle * 230.0, 0, 255)
        gray[~sector] = 0.0
        rgb = np.repeat(gray[..., np.newaxis], 3, axis=-1)
        velocity = -np.sin(phase)  # > 0 while relaxing (inflow), < 0 while contracting
        jet = (r < 0.85) & (np.abs(x - cx) < 0.07) & sector
        if abs(velocity) > 0.2:
            strength = np.clip(abs(velocity) * (1.0 - r) * 400.0, 0, 255)[jet]
            rgb[jet] = 0.0
            rgb[jet, 0 if velocity > 0 else 2] = strength
            rgb[jet, 1] = strength * 0.25
        out[f] = rgb.astype(np.uint8)
        out[f, 4:rows - 4:rows // 10, columns - 6:columns - 2] = 200  # depth ticks, 1 cm
    return out


def us_cine(
    patient: SamplePatient,
    study: StudyInfo,
    series: SeriesInfo | None = None,
    *,
    frames: int = 40,
    rows: int = 240,
    columns: int = 320,
    frame_time_ms: float = 33.3,
    heart_rate_bpm: float = 150.0,
    instance_number: int = 1,
    seed: int = 4,
) -> Dataset:
    """Return one multi-frame RGB echocardiography cine.

    Parameters
    ----------
    patient, study, series : SamplePatient, StudyInfo, SeriesInfo
        Who, which study and which series (Modality ``US``); by default series 1,
        "Echocardiography", a minute after the study starts.
    frames : int
        (0028,0008) Number of Frames.
    rows, columns : int
        Frame size; the image covers 10 cm of depth over ``rows``.
    frame_time_ms : float
        (0018,1063) Frame Time; Cine Rate is its reciprocal in frames per second.
    heart_rate_bpm : float
        (0018,1088) Heart Rate, the rate at which the ventricle beats across frames.
    instance_number : int
        (0020,0013) Instance Number.
    seed : int
        Seed of the speckle, so output is repeatable.
    """
    pixels = _cine_frames(frames, rows, columns, frame_time_ms, heart_rate_bpm, seed)
    series = series or SeriesInfo("US", 1, "Echocardiography", "HEART",
                                  add_seconds(study.study_time, 60))
    ds = new_instance(UltrasoundMultiFrameImageStorage, patient, study, series,
                      instance_number=instance_number,
                      image_type=("ORIGINAL", "PRIMARY", "TRANSTHORACIC", "0011"),
                      model="Sample US")
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.TransducerData = "S4-2"
    ds.HeartRate = round(heart_rate_bpm)
    set_pixels(ds, pixels, bits_stored=8, photometric="RGB")
    ds.FrameTime = f"{frame_time_ms:g}"
    ds.CineRate = round(1000.0 / frame_time_ms)
    ds.RecommendedDisplayFrameRate = ds.CineRate
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.ActualFrameDuration = round(frame_time_ms)
    ds.StartTrim, ds.StopTrim = 1, frames
    ds.EffectiveDuration = f"{frames * frame_time_ms / 1000.0:.3f}"
    return ds
