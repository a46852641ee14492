"""What the viewer needs from a stored instance: display info, frame values, PNGs, attributes.

Window/level is applied in the browser: :func:`frame_values` sends a frame's modality
values once (after the Modality LUT, PS3.3 C.11.1) as little-endian Int16, Int32 or
Float32, the smallest that holds them exactly, and the page maps them through the
window on every drag step. Colour frames are sent as PNG. Non-image objects (SR,
waveforms, RT, encapsulated PDF) are shown as an attribute table.

Everything here blocks (file reads, decoding): call it from worker threads, never on the
event loop. :mod:`pacslink.imaging` is given the instance's file, so it reads the header
and decodes only the frame asked for (a large multi-frame object is never decoded whole);
the display info of recent instances is kept, so it is worked out once per instance.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from pacslink import imaging
from pacslink.api import Pacslink
from pacslink.errors import PacslinkError

#: Value representations whose values are bulk data, never shown in the attribute table.
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
TEXT_LIMIT = 200
MAX_ROWS = 3000
MAX_DEPTH = 4
MAX_ITEMS = 50
_DEFER = 64 * 1024


class NotFound(PacslinkError):
    """The local store holds no such instance (or frame)."""


@dataclass(frozen=True)
class FrameValues:
    """One frame's modality values, packed for the browser."""

    data: bytes
    rows: int
    columns: int
    pixel_type: str  # int16, int32 or float32 (little endian)
    min_value: float
    max_value: float


class Instances:
    """Stored instances by SOP Instance UID: their files, and their display info (cached).

    Parameters
    ----------
    pacslink : Pacslink
        Finds each instance's file in the local store.
    size : int
        Display infos kept (a few hundred bytes each).
    """

    def __init__(self, pacslink: Pacslink, size: int = 512) -> None:
        self.pacslink = pacslink
        self.size = size
        self._infos: OrderedDict[str, tuple[Path, imaging.DisplayInfo]] = OrderedDict()
        self._lock = threading.Lock()

    def path(self, sop_instance_uid: str) -> Path:
        """The file of a stored instance.

        Raises
        ------
        NotFound
            The store does not hold it, or its file is gone.
        """
        found = self.pacslink.instance_file(sop_instance_uid)
        if found is None:
            raise NotFound(f"this computer holds no instance {sop_instance_uid}; "
                           "retrieve it first")
        path = found[1]
        if not path.is_file():
            raise NotFound(f"the file of instance {sop_instance_uid} is missing from the "
                           "local store (run: pacslink store verify)")
        return path

    def info(self, sop_instance_uid: str) -> tuple[Path, imaging.DisplayInfo]:
        """The file and display info of a stored instance (decodes its first frame once)."""
        with self._lock:
            found = self._infos.get(sop_instance_uid)
            if found is not None:
                self._infos.move_to_end(sop_instance_uid)
        if found is not None and found[0].is_file():  # a replaced copy has another file
            return found
        path = self.path(sop_instance_uid)
        found = (path, imaging.display_info(path))
        with self._lock:
            self._infos[sop_instance_uid] = found
            while len(self._infos) > self.size:
                self._infos.popitem(last=False)
        return found

    def dataset(self, sop_instance_uid: str) -> Dataset:
        """The data set, large values (pixels, documents) left in the file."""
        path = self.path(sop_instance_uid)
        try:
            return pydicom.dcmread(path, defer_size=_DEFER)
        except (OSError, InvalidDicomError, ValueError) as exc:
            raise PacslinkError(f"the file of instance {sop_instance_uid} cannot be read: "
                                f"{exc}") from exc

    def forget(self, sop_instance_uids: set[str]) -> None:
        """Drop what is cached of these instances (after their study was deleted)."""
        with self._lock:
            for uid in sop_instance_uids:
                self._infos.pop(uid, None)


def _frame_index(info: imaging.DisplayInfo, frame: int) -> int:
    if not 0 <= frame < max(info.frames, 1):
        raise NotFound(f"frame {frame} does not exist: this instance has {info.frames} "
                       f"frame(s), numbered from 0")
    return frame


def display_json(info: imaging.DisplayInfo) -> dict[str, Any]:
    """The display info as JSON; presets as ``{"name", "center", "width"}``."""
    out = asdict(info)
    out["presets"] = [{"name": n, "center": c, "width": w} for n, c, w in info.presets]
    out["pixel_spacing"] = list(info.pixel_spacing) if info.pixel_spacing else None
    return out


def frame_values(instances: Instances, sop_instance_uid: str, frame: int) -> FrameValues:
    """A grey frame's modality values in the smallest exact little-endian type.

    Raises
    ------
    ImagingError
        The frame cannot be decoded, or the instance is colour or not an image.
    NotFound
        No such instance or frame.
    """
    path, info = instances.info(sop_instance_uid)
    if info.kind != "grey":
        raise imaging.ImagingError(
            "this image is in colour: fetch its frames as PNG (frames/N.png)"
            if info.kind == "rgb" else "this object has no image to show")
    values = np.asarray(imaging.grey_frame(path, _frame_index(info, frame)), dtype=np.float32)
    rows, columns = values.shape[:2]
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    if finite.size == values.size and np.array_equal(values, np.round(values)):
        if -32768 <= low and high <= 32767:
            return FrameValues(values.astype("<i2").tobytes(), rows, columns, "int16", low, high)
        if -(2**31) <= low and high < 2**31:
            return FrameValues(values.astype("<i4").tobytes(), rows, columns, "int32", low, high)
    clean = np.nan_to_num(values, nan=0.0, posinf=high, neginf=low)
    return FrameValues(clean.astype("<f4").tobytes(), rows, columns, "float32", low, high)


def frame_png(
    instances: Instances, sop_instance_uid: str, frame: int, *, center: float | None = None,
    width: float | None = None, invert: bool | None = None, max_size: int | None = None,
) -> bytes:
    """A frame rendered by :func:`pacslink.imaging.render` as PNG (colour, thumbnails)."""
    path, info = instances.info(sop_instance_uid)
    if info.kind == "none":
        raise imaging.ImagingError("this object has no image to show")
    image = imaging.render(path, _frame_index(info, frame), center=center, width=width,
                           invert=invert, max_size=max_size)
    return imaging.png_bytes(image)


def attribute_rows(ds: Dataset) -> list[dict[str, Any]]:
    """The data set as a table: keyword, tag, VR, value, depth (sequences nested).

    Bulk data (pixels, encapsulated documents, waveform samples) is described by its
    size, never sent; long text is cut to :data:`TEXT_LIMIT` characters; sequences are
    shown to :data:`MAX_DEPTH` levels and :data:`MAX_ITEMS` items each.
    """
    rows: list[dict[str, Any]] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _walk(meta, 0, rows)
    _walk(ds, 0, rows)
    if len(rows) > MAX_ROWS:
        rows = rows[:MAX_ROWS] + [{"keyword": "", "tag": "", "vr": "", "depth": 0,
                                    "value": f"... {len(rows) - MAX_ROWS} more rows not shown"}]
    return rows


def _walk(ds: Dataset, depth: int, rows: list[dict[str, Any]]) -> None:
    for elem in ds:
        if len(rows) > MAX_ROWS:
            return
        rows.append({"keyword": elem.keyword or elem.name, "tag": _tag(elem), "vr": elem.VR,
                     "value": _value(elem), "depth": depth})
        if elem.VR == "SQ" and isinstance(elem.value, Sequence) and depth < MAX_DEPTH:
            for number, item in enumerate(elem.value[:MAX_ITEMS], start=1):
                rows.append({"keyword": f"Item {number}", "tag": "", "vr": "", "value": "",
                             "depth": depth + 1})
                _walk(item, depth + 2, rows)
            if len(elem.value) > MAX_ITEMS:
                rows.append({"keyword": "", "tag": "", "vr": "", "depth": depth + 1,
                             "value": f"... {len(elem.value) - MAX_ITEMS} more items"})


def _tag(elem: DataElement) -> str:
    return f"({elem.tag.group:04X},{elem.tag.element:04X})"


def _value(elem: DataElement) -> str:
    if elem.VR == "SQ":
        count = len(elem.value) if elem.value is not None else 0
        return f"sequence of {count} item{'s' if count != 1 else ''}"
    if elem.VR in BULK_VRS or elem.tag == 0x7FE00010:
        return "(binary data; not shown)"
    try:
        value = elem.value
        if isinstance(value, list | tuple | MultiValue):
            text = "\\".join(str(v) for v in value)
        else:
            text = "" if value is None else str(value)
    except Exception:  # noqa: BLE001 - a malformed value is shown as such, never fails the page
        return "(value cannot be read)"
    text = text.replace("\r\n", " ").replace("\n", " ")
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


__all__ = [
    "FrameValues",
    "Instances",
    "NotFound",
    "attribute_rows",
    "display_json",
    "frame_png",
    "frame_values",
]
