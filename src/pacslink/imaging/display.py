"""What a viewer needs to show an image: :class:`DisplayInfo`, :func:`render`, PNG bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pacslink.imaging.frames import modality_values, to_rgb8
from pacslink.imaging.source import (
    ImagingError,
    Source,
    decode,
    functional_item,
    kind_of,
    number_of_frames,
    open_source,
    photometric_of,
)
from pacslink.imaging.window import (
    Window,
    apply_window,
    file_windows,
    presets,
    voi_function,
    window_from_range,
)


@dataclass(frozen=True)
class DisplayInfo:
    """How to show an object: its kind, geometry, frames and default window.

    Attributes
    ----------
    kind : str
        ``"grey"`` (MONOCHROME1/2), ``"rgb"`` (RGB, YBR_*, PALETTE COLOR) or ``"none"``
        (not an image: SR, waveform, RT plan, encapsulated PDF ...; every other field is
        then empty or zero).
    rows, columns, frames : int
        Rows (0028,0010), Columns (0028,0011), Number of Frames (0028,0008) or 1.
    photometric : str
        Photometric Interpretation (0028,0004) as in the file (PS3.3 C.7.6.3.1.2).
    invert : bool
        ``True`` for MONOCHROME1: the minimum value is intended to be shown white.
    window_center, window_width : float
        The default window (PS3.3 C.11.2.1.2): the file's first Window Center/Width,
        else the one spanning ``min_value`` .. ``max_value``.
    presets : tuple of (name, center, width)
        The file's windows named by their explanations (0028,1055), then for CT
        (Modality CT or Rescale Type HU) Soft tissue 40/400, Lung -600/1500, Bone
        400/1800, Brain 40/80.
    min_value, max_value : float
        Range of the first frame's modality values (after the Modality LUT, PS3.3
        C.11.1); for colour images the range of its 8-bit RGB values.
    frame_time_ms : float or None
        Time between frames for cine: Frame Time (0018,1063), else 1000 / Cine Rate
        (0018,0040), else the mean step of Frame Time Vector (0018,1065), else 1000 /
        Recommended Display Frame Rate (0008,2144) (PS3.3 C.7.6.5). ``None`` for a single
        frame or when the file gives no timing.
    pixel_spacing : (float, float) or None
        Row and column spacing in mm: Pixel Spacing (0028,0030), else Imager Pixel
        Spacing (0018,1164), else the Pixel Measures macro (PS3.3 C.7.6.16.2).
    voi_lut_function : str
        VOI LUT Function (0028,1056) to apply with the window: ``LINEAR`` (default),
        ``LINEAR_EXACT`` or ``SIGMOID`` (PS3.3 C.11.2.1.3).
    """

    kind: str
    rows: int
    columns: int
    frames: int
    photometric: str
    invert: bool
    window_center: float
    window_width: float
    presets: tuple[Window, ...]
    min_value: float
    max_value: float
    frame_time_ms: float | None
    pixel_spacing: tuple[float, float] | None
    voi_lut_function: str = "LINEAR"


def display_info(ds: Source) -> DisplayInfo:
    """Describe how to show ``ds``; decodes its first frame only.

    Parameters
    ----------
    ds : Dataset or path
        Any DICOM object; non-images give ``kind == "none"``.

    Returns
    -------
    DisplayInfo

    Raises
    ------
    ImagingError
        The object is an image but its first frame cannot be decoded (no decoder for the
        transfer syntax, corrupt data), or the file cannot be read.
    """
    data, path = open_source(ds)
    kind = kind_of(data)
    photometric = photometric_of(data)
    if kind == "none":
        return DisplayInfo(
            kind="none", rows=0, columns=0, frames=0, photometric=photometric, invert=False,
            window_center=0.0, window_width=0.0, presets=(), min_value=0.0, max_value=0.0,
            frame_time_ms=None, pixel_spacing=None,
        )
    frames = number_of_frames(data)
    first = decode(data, path, 0)
    values = modality_values(first, data, 0) if kind == "grey" else to_rgb8(first, data)
    low, high = _range(values)
    windows = file_windows(data) if kind == "grey" else []
    center, width = (windows[0][1], windows[0][2]) if windows else window_from_range(low, high)
    return DisplayInfo(
        kind=kind,
        rows=int(data.Rows),
        columns=int(data.Columns),
        frames=frames,
        photometric=photometric,
        invert=photometric == "MONOCHROME1",
        window_center=center,
        window_width=width,
        presets=presets(data) if kind == "grey" else (),
        min_value=low,
        max_value=high,
        frame_time_ms=frame_time_ms(data) if frames > 1 else None,
        pixel_spacing=pixel_spacing(data),
        voi_lut_function=voi_function(data) if kind == "grey" else "LINEAR",
    )


def render(
    ds: Source,
    index: int = 0,
    *,
    center: float | None = None,
    width: float | None = None,
    invert: bool | None = None,
    max_size: int | None = None,
) -> Image.Image:
    """Render frame ``index`` of ``ds`` as an 8-bit image for the screen.

    Parameters
    ----------
    ds : Dataset or path
        An image (``display_info(ds).kind != "none"``).
    index : int
        Frame number from 0.
    center, width : float, optional
        Window for grey images, in modality values (PS3.3 C.11.2.1.2); each defaults to
        the file's window for this frame, else to the range of the first frame. Applied
        with the file's VOI LUT Function. Ignored for colour images.
    invert : bool, optional
        Show inverted. Default: ``True`` for MONOCHROME1 (PS3.3 C.7.6.3.1.2), else
        ``False``; ``True`` on a colour image gives its negative.
    max_size : int, optional
        Shrink (never enlarge) to fit a ``max_size`` square, keeping the aspect ratio:
        thumbnails.

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"`` for grey, ``"RGB"`` for colour images.

    Raises
    ------
    ImagingError
        Not an image, frame index out of range, or the pixel data cannot be decoded.
    ValueError
        ``max_size`` below 1.
    """
    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    data, path = open_source(ds)
    kind = kind_of(data)
    if kind == "none":
        raise ImagingError(f"nothing to render: {_sop_class_name(data)} is not an image")
    arr = decode(data, path, index)
    if kind == "grey":
        values = modality_values(arr, data, index)
        if center is None or width is None:
            default_center, default_width = _default_window(data, path, index, values)
            center = default_center if center is None else center
            width = default_width if width is None else width
        pixels = apply_window(values, center, width, voi_function(data, index))
        if invert is None:
            invert = photometric_of(data) == "MONOCHROME1"
        if invert:
            pixels = 255 - pixels
        image = Image.fromarray(pixels)
    else:
        rgb = to_rgb8(arr, data)
        image = Image.fromarray(255 - rgb if invert else rgb)
    if max_size is not None:
        image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    return image


def png_bytes(image: Image.Image) -> bytes:
    """Encode a rendered image as PNG (fast compression: frames are served live)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def frame_time_ms(ds: Dataset) -> float | None:
    """Milliseconds between frames for cine display (PS3.3 C.7.6.5), ``None`` if unknown."""
    frame_time = _positive(ds.get("FrameTime"))
    if frame_time is not None:
        return frame_time
    rate = _positive(ds.get("CineRate"))
    if rate is not None:
        return 1000.0 / rate
    vector = ds.get("FrameTimeVector")
    if vector is not None and not isinstance(vector, str | bytes):
        steps = [_positive(step) for step in list(vector)[1:]]  # the first is 0
        valid = [step for step in steps if step is not None]
        if valid:
            return sum(valid) / len(valid)
    rate = _positive(ds.get("RecommendedDisplayFrameRate"))
    return 1000.0 / rate if rate is not None else None


def pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """Row and column spacing in mm (PS3.3 10.7.1.3), ``None`` if the file gives none."""
    measures = functional_item(ds, 0, "PixelMeasuresSequence")
    for source, keyword in (
        (ds, "PixelSpacing"),
        (ds, "ImagerPixelSpacing"),
        (measures, "PixelSpacing"),
    ):
        value = source.get(keyword) if source is not None else None
        if value is None or isinstance(value, str | bytes) or len(value) != 2:
            continue
        row, column = _positive(value[0]), _positive(value[1])
        if row is not None and column is not None:
            return row, column
    return None


def _default_window(
    ds: Dataset, path: Path | None, index: int, values: np.ndarray
) -> tuple[float, float]:
    windows = file_windows(ds, index)
    if windows:
        return windows[0][1], windows[0][2]
    if index != 0:  # the same default for every frame: the first frame's range
        values = modality_values(decode(ds, path, 0), ds, 0)
    return window_from_range(*_range(values))


def _range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    name = UID(str(uid)).name if uid else ""
    return name or "this object"
