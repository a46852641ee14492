"""Reading a source and decoding one frame of its pixel data (PS3.3 C.7.6.3).

A source is a :class:`~pydicom.Dataset` already read, or the path of a DICOM file. From a
path only the header is read (elements over 64 KiB, the pixel data, are left in the file)
and :func:`pydicom.pixels.pixel_array` reads and decodes just the requested frame (it
seeks to it, or to its fragments when the pixel data are encapsulated). From a data set,
pydicom decodes just that frame too. So a large multi-frame object is never decoded whole.

Every failure to decode (no decoder for the transfer syntax, corrupt or truncated data,
frame index out of range) is raised as :class:`ImagingError`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TypeAlias

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from pacslink.errors import PacslinkError

LOGGER = logging.getLogger(__name__)

#: A data set already read, or the path of a DICOM file.
Source: TypeAlias = Dataset | str | os.PathLike[str]

#: The three elements that may hold pixel data (PS3.3 C.7.6.3, C.7.6.24).
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
GREY = frozenset({"MONOCHROME1", "MONOCHROME2"})
#: Photometric Interpretations shown as colour (PS3.3 C.7.6.3.1.2). The YBR_PARTIAL ones
#: only occur with MPEG and HEVC video, which pydicom does not decode: they are images
#: nevertheless, and decoding them raises a clear :class:`ImagingError`.
COLOUR = frozenset({
    "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR",
    "YBR_PARTIAL_420", "YBR_PARTIAL_422",
})
_HEADER_DEFER_SIZE = 64 * 1024


class ImagingError(PacslinkError):
    """Pixel data cannot be shown: no decoder, corrupt data, frame index out of range."""


def can_decode(transfer_syntax_uid: str) -> bool:
    """Return whether pixel data in this transfer syntax can be decoded here.

    Parameters
    ----------
    transfer_syntax_uid : str
        A Transfer Syntax UID (PS3.5 Annex A), e.g. ``"1.2.840.10008.1.2.4.90"``.

    Returns
    -------
    bool
        ``True`` when pydicom has a decoder for it with a plugin installed (pylibjpeg,
        Pillow, or pydicom's own for native and RLE data).
    """
    try:
        return bool(get_decoder(UID(transfer_syntax_uid)).is_available)
    except NotImplementedError:
        return False


def open_source(src: Source) -> tuple[Dataset, Path | None]:
    """Return the data set of ``src`` and its path (``None`` for a data set).

    From a path, elements over 64 KiB (the pixel data) are left unread: pydicom reads
    them from the file only if they are used.

    Raises
    ------
    ImagingError
        If the file cannot be read or is not DICOM.
    """
    if isinstance(src, Dataset):
        return src, None
    path = Path(src)
    try:
        meta = read_file_meta_info(path)
        # deferred reads cannot seek into a deflated stream: read those whole
        deflated = meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        ds = dcmread(path, defer_size=None if deflated else _HEADER_DEFER_SIZE)
    except (OSError, InvalidDicomError, ValueError) as exc:
        raise ImagingError(f"cannot read {path.name} as a DICOM file: {exc}") from exc
    return ds, path


def transfer_syntax(ds: Dataset) -> UID | None:
    """The Transfer Syntax UID of the file meta information, if any."""
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def kind_of(ds: Dataset) -> str:
    """Return ``"grey"``, ``"rgb"`` or ``"none"`` for a data set (see :func:`is_image`)."""
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        return "none"
    if not (int_or(ds.get("Rows")) and int_or(ds.get("Columns"))):
        return "none"
    photometric = photometric_of(ds)
    samples = int_or(ds.get("SamplesPerPixel"), 1)
    if photometric in GREY and samples == 1:
        return "grey"
    if photometric in COLOUR:
        return "rgb"
    if not photometric:  # tolerant reading: guess from Samples per Pixel
        return {1: "grey", 3: "rgb"}.get(samples, "none")
    return "none"


def is_image(ds: Source) -> bool:
    """Return whether ``ds`` holds pixel data pacslink can show.

    Parameters
    ----------
    ds : Dataset or path
        A data set read *with* its pixel data (not ``stop_before_pixels``), or a file.

    Returns
    -------
    bool
        ``True`` for pixel data (Pixel Data, Float or Double Float Pixel Data) with Rows,
        Columns and a grey or colour Photometric Interpretation (PS3.3 C.7.6.3.1.2);
        ``False`` for SR, waveforms, RT plans, encapsulated documents and the like.
    """
    return kind_of(open_source(ds)[0]) != "none"


def photometric_of(ds: Dataset) -> str:
    """Photometric Interpretation (0028,0004) as in the file, ``""`` when absent."""
    return str(ds.get("PhotometricInterpretation", "") or "").strip().upper()


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008); 1 when absent, empty or 0.

    Raises
    ------
    ImagingError
        If the value is not a number.
    """
    value = ds.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    try:
        return max(int(value), 1)
    except (TypeError, ValueError) as exc:
        raise ImagingError(f"Number of Frames {str(value)[:16]!r} is not a number") from exc


def functional_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    """The item of a functional group macro for frame ``index`` (PS3.3 C.7.6.16).

    The Per-frame Functional Groups Sequence wins over the Shared one. ``None`` when the
    object has no such macro (every object but the enhanced multi-frame ones).
    """
    for groups, position in (
        (ds.get("PerFrameFunctionalGroupsSequence"), index),
        (ds.get("SharedFunctionalGroupsSequence"), 0),
    ):
        if groups and position < len(groups) and groups[position].get(sequence):
            item: Dataset = groups[position].get(sequence)[0]
            return item
    return None


def decode(ds: Dataset, path: Path | None, index: int) -> np.ndarray:
    """Decode frame ``index`` of ``ds`` (read from ``path`` when not ``None``).

    Returns pydicom's array for one frame: (rows, columns) or (rows, columns, samples),
    with BitsStored < BitsAllocated masked or sign-extended, YBR_FULL/YBR_FULL_422
    converted to RGB and JPEG 2000 YBR_ICT/YBR_RCT as RGB.

    Raises
    ------
    ImagingError
        Frame index out of range, no decoder available, or the decoder failed.
    """
    frames = number_of_frames(ds)
    if not 0 <= index < frames:
        raise ImagingError(f"frame {index} does not exist: the image has {frames} frame(s)")
    syntax = transfer_syntax(ds)
    if syntax is None:
        ds = _with_native_syntax(ds)
        syntax = ExplicitVRLittleEndian
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise ImagingError(f"pixel data in {syntax.name} cannot be decoded here") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin"
        raise ImagingError(f"no decoder installed for {syntax.name} ({missing})")
    LOGGER.debug("decoding frame %d of %d (%s)", index, frames, syntax.name)
    if path is not None and syntax != DeflatedExplicitVRLittleEndian:
        try:
            return pixel_array(path, index=index)
        except Exception as exc:  # noqa: BLE001 - reading from a file is stricter: retry
            LOGGER.debug("decoding from the file failed (%s); reading the data set", exc)
    try:
        return pixel_array(ds, index=index)
    except Exception as exc:  # the decoders raise anything: ValueError, RuntimeError ...
        raise ImagingError(
            f"cannot decode frame {index} ({syntax.name}): {error_text(exc)}"
        ) from exc


def _with_native_syntax(ds: Dataset) -> Dataset:
    """A shallow copy of a data set built in memory, marked Explicit VR Little Endian.

    Tolerant reading: a data set without file meta information can only hold native
    pixel data; the caller's data set is not modified.
    """
    value = ds.get("PixelData")
    if isinstance(value, bytes | bytearray) and value[:4] == b"\xfe\xff\x00\xe0":
        raise ImagingError("encapsulated pixel data without a Transfer Syntax UID")
    copy = Dataset(ds)
    copy.file_meta = FileMetaDataset()
    copy.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return copy


def int_or(value: object, default: int = 0) -> int:
    """``int(value)``, or ``default`` when it is not a number."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def float_or(value: object, default: float) -> float:
    """``float(value)`` when finite, else ``default``."""
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return result if np.isfinite(result) else default


def error_text(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text[:300] if text else type(exc).__name__
