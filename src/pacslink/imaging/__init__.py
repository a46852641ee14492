"""Pixel data to display frames: what the viewer shows, and thumbnails.

The grey pipeline of PS3.3 C.11 (Modality LUT, then VOI LUT, then for MONOCHROME1 an
inversion) and the colour models of the Image Pixel Module (PS3.3 C.7.6.3.1.2, C.7.9)::

    stored values --Modality LUT (C.11.1)--> modality values      grey_frame()
                  --window (C.11.2.1.2)----> 8-bit grey levels    render()
                  --MONOCHROME1: 255 - y---> displayed
    RGB / YBR_* / PALETTE COLOR ------------> 8-bit RGB            rgb_frame(), render()

The web viewer asks :func:`display_info` once per object, fetches each frame's modality
values with :func:`grey_frame` (so window/level runs in the browser) or colour frames
with :func:`rgb_frame`, and uses :func:`render` + :func:`png_bytes` for thumbnails.
Each takes a :class:`~pydicom.Dataset` or the path of a DICOM file, and decodes one frame
at a time. Failures are :class:`ImagingError`.

Decoding is pydicom's (3.x) with its pylibjpeg plugins: native and deflated data, RLE,
JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 and HTJ2K when the plugins are
installed (:func:`can_decode`). This module logs frame numbers and transfer syntaxes,
never patient data.

Examples
--------
>>> import numpy as np
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.Rows, ds.Columns, ds.SamplesPerPixel = 2, 2, 1
>>> ds.PhotometricInterpretation = "MONOCHROME2"
>>> ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
>>> ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
>>> ds.PixelData = np.array([[0, 1024], [1064, 2048]], dtype="<i2").tobytes()
>>> grey_frame(ds, 0).tolist()
[[-1024.0, 0.0], [40.0, 1024.0]]
>>> np.asarray(render(ds, center=40, width=400)).tolist()
[[0, 102], [128, 255]]
"""

from __future__ import annotations

from pacslink.imaging.display import (
    DisplayInfo,
    display_info,
    frame_time_ms,
    pixel_spacing,
    png_bytes,
    render,
)
from pacslink.imaging.frames import grey_frame, rgb_frame
from pacslink.imaging.source import ImagingError, Source, can_decode, is_image
from pacslink.imaging.window import CT_PRESETS, Window, apply_window, window_from_range

__all__ = [
    "CT_PRESETS",
    "DisplayInfo",
    "ImagingError",
    "Source",
    "Window",
    "apply_window",
    "can_decode",
    "display_info",
    "frame_time_ms",
    "grey_frame",
    "is_image",
    "pixel_spacing",
    "png_bytes",
    "render",
    "rgb_frame",
    "window_from_range",
]
