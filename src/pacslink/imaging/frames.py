"""Frames for display: grey modality values and 8-bit RGB.

- Grey frames (MONOCHROME1/2, PS3.3 C.7.6.3.1.2) become *modality values*: the stored
  values through the Modality LUT Sequence or Rescale Slope/Intercept (PS3.3 C.11.1, and
  the Pixel Value Transformation macro of multi-frame functional groups, C.7.6.16.2).
- Colour frames become 8-bit RGB: RGB as is; YBR_FULL and YBR_FULL_422 converted by
  pydicom (which knows when a JPEG decoder has already converted them); YBR_ICT/YBR_RCT
  come out of the JPEG 2000 decoders as RGB; PALETTE COLOR through its lookup tables
  (PS3.3 C.7.6.3.1.5, C.7.9: 8- or 16-bit entries, segmented or not).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut

from pacslink.imaging.source import (
    ImagingError,
    Source,
    decode,
    error_text,
    float_or,
    functional_item,
    int_or,
    kind_of,
    open_source,
    photometric_of,
    transfer_syntax,
)


def grey_frame(ds: Source, index: int) -> npt.NDArray[np.float32]:
    """Return frame ``index`` of a grey image as modality values.

    Parameters
    ----------
    ds : Dataset or path
        A MONOCHROME1 or MONOCHROME2 image (``display_info(ds).kind == "grey"``).
    index : int
        Frame number from 0.

    Returns
    -------
    numpy.ndarray
        float32, shape (rows, columns): stored values (8 to 32 bits, signed when Pixel
        Representation is 1, Bits Stored < Bits Allocated handled) through the Modality
        LUT Sequence or Rescale Slope/Intercept (PS3.3 C.11.1), e.g. Hounsfield units
        for CT. MONOCHROME1 values are *not* inverted here: inversion is part of display.

    Raises
    ------
    ImagingError
        Not a grey image, frame index out of range, or the pixel data cannot be decoded.
    """
    data, path = open_source(ds)
    kind = kind_of(data)
    if kind != "grey":
        raise ImagingError(f"grey frames need a MONOCHROME image, this one is {_what(data, kind)}")
    return modality_values(decode(data, path, index), data, index)


def rgb_frame(ds: Source, index: int) -> npt.NDArray[np.uint8]:
    """Return frame ``index`` of a colour image as 8-bit RGB.

    Parameters
    ----------
    ds : Dataset or path
        An image with Photometric Interpretation (PS3.3 C.7.6.3.1.2) RGB, YBR_FULL,
        YBR_FULL_422, YBR_ICT, YBR_RCT or PALETTE COLOR (PS3.3 C.7.9).
    index : int
        Frame number from 0.

    Returns
    -------
    numpy.ndarray
        uint8, shape (rows, columns, 3). YBR data are converted to RGB (pydicom knows
        when a JPEG decoder has already done it), palette indices are looked up.

    Raises
    ------
    ImagingError
        Not a colour image, frame index out of range, or the pixel data cannot be decoded.
    """
    data, path = open_source(ds)
    kind = kind_of(data)
    if kind != "rgb":
        raise ImagingError(f"RGB frames need a colour image, this one is {_what(data, kind)}")
    return to_rgb8(decode(data, path, index), data)


def _what(ds: Dataset, kind: str) -> str:
    if kind == "none":
        return "not an image"
    return photometric_of(ds) or "grey"


def modality_values(arr: np.ndarray, ds: Dataset, index: int) -> npt.NDArray[np.float32]:
    """Stored values of frame ``index`` through the Modality LUT (PS3.3 C.11.1).

    The Modality LUT Sequence (0028,3000) when present, else Rescale Slope (0028,1053)
    and Rescale Intercept (0028,1052) of the frame's Pixel Value Transformation item
    (enhanced multi-frame, PS3.3 C.7.6.16.2) or of the data set; identity without them.

    Raises
    ------
    ImagingError
        ``arr`` is not one sample per pixel, or the Modality LUT Sequence is invalid.
    """
    if arr.ndim != 2:
        raise ImagingError(f"expected one sample per pixel, decoded shape {arr.shape}")
    if ds.get("ModalityLUTSequence"):
        try:
            return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
        except (AttributeError, ValueError, TypeError, IndexError) as exc:
            raise ImagingError(f"invalid Modality LUT Sequence: {error_text(exc)}") from exc
    item = functional_item(ds, index, "PixelValueTransformationSequence")
    source = item if item is not None and "RescaleSlope" in item else ds
    slope = float_or(source.get("RescaleSlope"), 1.0)
    intercept = float_or(source.get("RescaleIntercept"), 0.0)
    values = np.asarray(arr, dtype=np.float32)
    if slope != 1.0:
        values = values * np.float32(slope)
    if intercept != 0.0:
        values = values + np.float32(intercept)
    return values


def to_rgb8(arr: np.ndarray, ds: Dataset) -> npt.NDArray[np.uint8]:
    """A decoded colour frame as 8-bit RGB, shape (rows, columns, 3).

    PALETTE COLOR goes through its lookup tables (:func:`palette`); RGB with more than 8
    bits stored keeps its top 8 bits.
    """
    if photometric_of(ds) == "PALETTE COLOR":
        lut, first = palette(ds)
        indices = np.clip(arr.astype(np.int64) - first, 0, len(lut) - 1)
        return lut[indices]
    if arr.ndim != 3 or arr.shape[-1] < 3:
        raise ImagingError(f"expected 3 samples per pixel, decoded shape {arr.shape}")
    rgb = arr[..., :3]
    bits = int_or(ds.get("BitsStored"), 8)
    if rgb.dtype.itemsize > 1 or bits > 8:
        shift = max(bits - 8, 0)
        rgb = np.clip(rgb.astype(np.int64) >> shift, 0, 255)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def palette(ds: Dataset) -> tuple[npt.NDArray[np.uint8], int]:
    """The Palette Color Lookup Tables as an (entries, 3) uint8 array and first value mapped.

    PS3.3 C.7.6.3.1.5 (descriptor: entries, 0 meaning 65536; first value mapped; bits
    per entry) and C.7.9 (segmented tables). Entries of 16 bits keep their top 8 bits;
    tables declared 16-bit whose values all fit in 8 bits (a common encoder slip) are
    used as they are.
    """
    descriptor = ds.get("RedPaletteColorLookupTableDescriptor")
    if not descriptor or len(descriptor) != 3:
        raise ImagingError("PALETTE COLOR image without a valid Palette Color LUT Descriptor")
    entries, first = int(descriptor[0]) or 65536, int(descriptor[1])
    try:
        if "RedPaletteColorLookupTableData" in ds:
            order = "<" if _little_endian(ds) else ">"
            channels = [
                _lut_words(ds[f"{colour}PaletteColorLookupTableData"].value, entries, order)
                for colour in ("Red", "Green", "Blue")
            ]
            lut = np.stack(channels, axis=-1)
        else:  # segmented tables: pydicom expands them
            inputs = np.arange(first, first + entries, dtype=np.int64)
            lut = np.asarray(apply_color_lut(inputs, ds))[..., :3]
    except (KeyError, AttributeError, ValueError, TypeError) as exc:
        raise ImagingError(f"invalid Palette Color Lookup Table: {error_text(exc)}") from exc
    if lut.size and int(lut.max()) > 255:
        lut = lut >> 8
    return np.ascontiguousarray(lut, dtype=np.uint8), first


def _lut_words(data: object, entries: int, order: str) -> np.ndarray:
    """One channel of LUT data: OW bytes, or US values already decoded by pydicom."""
    if not isinstance(data, bytes | bytearray):
        values = np.atleast_1d(np.asarray(data, dtype=np.int64))
        if values.size < entries:
            raise ValueError(f"{values.size} LUT values for {entries} entries")
        return values[:entries]
    size = len(data) // entries if entries else 0
    if size == 2:
        return np.frombuffer(data, dtype=f"{order}u2", count=entries)
    if size == 1:
        return np.frombuffer(data, dtype=np.uint8, count=entries)
    raise ValueError(f"{len(data)} bytes of LUT data for {entries} entries")


def _little_endian(ds: Dataset) -> bool:
    syntax = transfer_syntax(ds)
    if syntax is not None:
        return bool(syntax.is_little_endian)
    return ds.original_encoding[1] is not False
