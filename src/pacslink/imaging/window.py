"""Window Center/Width: the VOI LUT of grey images (PS3.3 C.11.2).

The VOI (values of interest) transformation maps modality values to the displayed grey
levels. pacslink applies it as a window (PS3.3 C.11.2.1.2): the file's Window Center and
Window Width (0028,1050/1051), with their explanations (0028,1055), or windows the user
chooses, with the file's VOI LUT Function (0028,1056, PS3.3 C.11.2.1.3): ``LINEAR``
(the default, with its ``c - 0.5`` and ``w - 1``), ``LINEAR_EXACT`` or ``SIGMOID``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from pacslink.imaging.source import functional_item

#: A named window: (name, center, width).
Window = tuple[str, float, float]

#: Usual CT windows in Hounsfield units, offered for CT images.
CT_PRESETS: tuple[Window, ...] = (
    ("Soft tissue", 40.0, 400.0),
    ("Lung", -600.0, 1500.0),
    ("Bone", 400.0, 1800.0),
    ("Brain", 40.0, 80.0),
)
VOI_FUNCTIONS = frozenset({"LINEAR", "LINEAR_EXACT", "SIGMOID"})


def _voi_source(ds: Dataset, index: int) -> Dataset:
    item = functional_item(ds, index, "FrameVOILUTSequence")
    return item if item is not None and "WindowCenter" in item else ds


def _values(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def file_windows(ds: Dataset, index: int = 0) -> list[Window]:
    """The windows the file gives for frame ``index``, in order (PS3.3 C.11.2.1.2).

    Window Center and Window Width (0028,1050/1051) pair up value by value, named by
    Window Center & Width Explanation (0028,1055) or ``"Default"``, ``"Default 2"`` ...;
    a pair repeating an earlier one is left out.
    Enhanced multi-frame objects give them per frame or shared in the Frame VOI LUT
    macro (PS3.3 C.7.6.16.2). Pairs that are not numbers, or with a width below 1 (not
    allowed for LINEAR), are skipped.
    """
    source = _voi_source(ds, index)
    centers = _values(source.get("WindowCenter"))
    widths = _values(source.get("WindowWidth"))
    names = [str(name).strip() for name in _values(source.get("WindowCenterWidthExplanation"))]
    windows: list[Window] = []
    for position, (center, width) in enumerate(zip(centers, widths, strict=False)):
        try:
            c, w = float(center), float(width)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if not (np.isfinite(c) and np.isfinite(w)) or w < 1:
            continue
        if any((c, w) == (seen_c, seen_w) for _, seen_c, seen_w in windows):
            continue
        name = names[position] if position < len(names) else ""
        name = name or ("Default" if not windows else f"Default {len(windows) + 1}")
        windows.append((name, c, w))
    return windows


def voi_function(ds: Dataset, index: int = 0) -> str:
    """VOI LUT Function (0028,1056) for frame ``index``: LINEAR, LINEAR_EXACT or SIGMOID.

    ``LINEAR`` when absent or unknown (PS3.3 C.11.2.1.3).
    """
    value = str(_voi_source(ds, index).get("VOILUTFunction", "") or "").strip().upper()
    return value if value in VOI_FUNCTIONS else "LINEAR"


def is_ct(ds: Dataset) -> bool:
    """Modality CT, or Rescale Type HU (Hounsfield units, PS3.3 C.11.1.1.2)."""
    item = functional_item(ds, 0, "PixelValueTransformationSequence")
    rescale_type = (item.get("RescaleType") if item is not None else None) or ds.get("RescaleType")
    return str(ds.get("Modality", "")).upper() == "CT" or str(rescale_type or "").upper() == "HU"


def presets(ds: Dataset) -> tuple[Window, ...]:
    """The file's windows, then for CT the usual CT windows (:data:`CT_PRESETS`).

    A CT preset equal to a file window (same center and width) is not repeated.
    """
    windows = file_windows(ds)
    if is_ct(ds):
        seen = {(c, w) for _, c, w in windows}
        windows += [preset for preset in CT_PRESETS if (preset[1], preset[2]) not in seen]
    return tuple(windows)


def window_from_range(low: float, high: float) -> tuple[float, float]:
    """The LINEAR window that maps ``low`` to black and ``high`` to white.

    Center ``(low + high + 1) / 2`` and width ``high - low + 1`` (PS3.3 C.11.2.1.2.1,
    solved for the window's ends): the default when the file gives no window.
    """
    width = max(high - low, 0.0) + 1.0
    return (low + high + 1.0) / 2.0, width


def apply_window(
    values: np.ndarray, center: float, width: float, function: str = "LINEAR"
) -> npt.NDArray[np.uint8]:
    """Map modality values to 8-bit grey levels through a window (PS3.3 C.11.2).

    Parameters
    ----------
    values : numpy.ndarray
        Modality values (output of the Modality LUT, PS3.3 C.11.1).
    center, width : float
        Window Center and Window Width in the units of ``values``.
    function : str
        VOI LUT Function (PS3.3 C.11.2.1.3):

        - ``LINEAR`` (C.11.2.1.2.1): ``x <= c - 0.5 - (w-1)/2`` gives 0,
          ``x > c - 0.5 + (w-1)/2`` gives 255, else
          ``((x - (c - 0.5)) / (w - 1) + 0.5) * 255``. A width of 1 or less (which the
          standard does not allow) is a threshold at ``c - 0.5``.
        - ``LINEAR_EXACT``: ``((x - c) / w + 0.5) * 255`` clipped to 0..255.
        - ``SIGMOID``: ``255 / (1 + exp(-4 (x - c) / w))``.

    Returns
    -------
    numpy.ndarray
        uint8 grey levels (before any MONOCHROME1 inversion), same shape as ``values``.
    """
    x = np.asarray(values, dtype=np.float32)
    c = np.float32(center)
    if function == "SIGMOID" and width > 0:
        with np.errstate(over="ignore"):
            y = 255.0 / (1.0 + np.exp(-4.0 * (x - c) / np.float32(width)))
    elif function == "LINEAR_EXACT" and width > 0:
        y = ((x - c) / np.float32(width) + 0.5) * 255.0
    elif function not in ("SIGMOID", "LINEAR_EXACT") and width > 1:
        y = ((x - (c - 0.5)) / np.float32(width - 1.0) + 0.5) * 255.0
    else:
        threshold = c - 0.5 if function not in ("SIGMOID", "LINEAR_EXACT") else c
        return np.where(x > threshold, 255, 0).astype(np.uint8)
    y = np.nan_to_num(y, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)
