"""What the index records about one instance, and how it is read from a data set.

Reading is tolerant (architecture habit 4): a missing or malformed attribute becomes
``None``, never an exception. The exceptions are the keys of the four levels (Patient ID,
Study, Series and SOP Instance UID): they must fit :data:`MAX_KEY_CHARS`, or the data set
is refused with :class:`~pacslink.errors.DatasetParseError` (a value that long is not
DICOM, and database indexes have size limits).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydicom import config
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from pacslink.errors import DatasetParseError
from pacslink.models import StoredInstance
from pacslink.store.schema import ATTRIBUTES, Attribute, Kind

#: A value as the index stores it.
Value = str | int | float | None

#: Longest accepted key value (UI and LO allow 64; we accept more, within index limits).
MAX_KEY_CHARS = 256
#: Longer non-key text is cut to this length in the index (the file keeps it all).
MAX_TEXT_CHARS = 1024
#: Encoded values longer than this are not even decoded (no attribute we index is).
MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True)
class InstanceRecord:
    """One instance and its file, ready for :meth:`pacslink.store.Index.add_instance`.

    Parameters
    ----------
    values : Mapping[str, Value]
        DICOM keyword -> value for every attribute in :data:`~.schema.ATTRIBUTES`
        (``None`` when absent; ``""`` for absent keys).
    path : str
        The file, relative to the store root (``objects/ab/cd/<hex>.dcm``).
    size : int
        File size in bytes.
    sha256 : str
        Hex SHA-256 of the whole file.
    transfer_syntax_uid : str
        The transfer syntax the data set was received in.
    calling_ae : str
        The AE title that sent it.
    received_at : datetime
        When the store committed it (UTC, timezone-aware).
    """

    values: Mapping[str, Value]
    path: str
    size: int
    sha256: str
    transfer_syntax_uid: str
    calling_ae: str
    received_at: datetime

    def file_columns(self, *, naive_utc: bool) -> dict[str, Any]:
        """The instance row's file columns (:data:`~.schema.FILE_COLUMNS`).

        ``naive_utc``: ``received_at`` as naive UTC, which SQLite stores as text.
        """
        received_at = self.received_at.astimezone(UTC)
        return {"path": self.path, "size": self.size, "sha256": self.sha256,
                "transfer_syntax_uid": self.transfer_syntax_uid, "calling_ae": self.calling_ae,
                "received_at": received_at.replace(tzinfo=None) if naive_utc else received_at}

    @property
    def sop_instance_uid(self) -> str:
        """(0008,0018) SOP Instance UID."""
        return str(self.values["SOPInstanceUID"])

    def to_stored_instance(self) -> StoredInstance:
        """Return the :class:`~pacslink.models.StoredInstance` this record becomes."""
        return stored_instance(
            self.values,
            path=self.path,
            size=self.size,
            sha256=self.sha256,
            transfer_syntax_uid=self.transfer_syntax_uid,
            calling_ae=self.calling_ae,
            received_at=self.received_at,
        )


def clean_text(value: str) -> str:
    """Strip DICOM padding and NUL characters (which PostgreSQL text cannot hold)."""
    return value.replace("\x00", "").strip(" ")


def _convert(value: Any, attr: Attribute) -> Value:
    if isinstance(value, (MultiValue, list, tuple)):
        parts = [clean_text(v.decode("latin-1") if isinstance(v, bytes) else str(v)) for v in value]
        if not any(parts):
            return None
        if attr.kind is Kind.TEXT:
            return "\\".join(parts)[:MAX_TEXT_CHARS]
        value = parts[0]
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        value = clean_text(value)
        if not value:
            return None
    if attr.kind is Kind.TEXT:
        return str(value)[:MAX_TEXT_CHARS]
    if attr.kind is Kind.INT:
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


_BINARY_INTS = {"US": "H", "SS": "h", "UL": "L", "SL": "l"}
_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC"}


def _encodings(ds: Dataset) -> list[str]:
    """Python codecs for the data set's (0008,0005) Specific Character Set."""
    raw = ds.get_item(0x00080005)
    return _encodings_of(getattr(raw, "value", None))


def _encodings_of(value: Any) -> list[str]:
    if isinstance(value, bytes):
        terms = [t.strip(" \x00") for t in value.decode("latin-1").split("\\")]
    elif isinstance(value, str):
        terms = [value]
    elif value:
        terms = [str(v) for v in value]
    else:
        terms = []
    return convert_encodings(terms or None)


def _decode_raw(raw: bytes, vr: str, little_endian: bool, encodings: list[str]) -> Any:
    """Decode a raw value without pydicom's value validation, which logs values."""
    if vr in _BINARY_INTS:
        code = _BINARY_INTS[vr]
        size = struct.calcsize(code)
        if len(raw) < size:
            return None
        return struct.unpack(("<" if little_endian else ">") + code, raw[:size])[0]
    if vr == "PN":
        return [
            str(PersonName(part, encodings, validation_mode=config.IGNORE))
            for part in raw.split(b"\\")
        ]
    if vr in _TEXT_VRS:
        text = decode_bytes(raw, encodings, {0x5C})
    else:  # UI, CS, DA, TM, DT, IS, DS, AS...: the default repertoire
        text = raw.decode("latin-1")
    return text.split("\\")


def value_of(ds: Dataset, attr: Attribute, encodings: list[str] | None = None) -> Value:
    """Return one attribute of ``ds`` as the index stores it, ``None`` if unusable.

    Raw (undecoded) elements, as :func:`~pacslink.store.parse.parse_header` returns them,
    are decoded here per Specific Character Set but without pydicom's value validation:
    its warnings quote the value, and default logs must carry no patient data.
    """
    try:
        elem = ds.get_item(attr.tag)
        if elem is None:
            return None
        value = elem.value
        if isinstance(elem, RawDataElement):
            if encodings is None:
                encodings = _encodings(ds)
            return _raw_value(value, elem.VR, elem.is_little_endian, encodings, attr)
        return _convert(value, attr)
    except Exception:  # noqa: BLE001 - malformed values are skipped: tolerant reading
        return None


def _raw_value(
    value: bytes | None, vr: str | None, little_endian: bool, encodings: list[str],
    attr: Attribute,
) -> Value:
    try:
        if value is None or len(value) > MAX_VALUE_BYTES:
            return None
        decoded = _decode_raw(value, vr or dictionary_VR(attr.tag), little_endian, encodings)
        return _convert(decoded, attr)
    except Exception:  # noqa: BLE001 - malformed values are skipped: tolerant reading
        return None


def _checked_key(attr: Attribute, value: Value) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_KEY_CHARS:
        raise DatasetParseError(
            f"{attr.keyword} is {len(text)} characters long (more than "
            f"{MAX_KEY_CHARS}); not a valid data set"
        )
    return text


def values_from_raw(
    raw: Mapping[int, tuple[str | None, bytes | None]], little_endian: bool
) -> dict[str, Value]:
    """Like :func:`values_from_dataset`, for raw values by tag (see :mod:`.scan`).

    ``raw`` maps a tag to ``(VR, value bytes)``: the VR as encoded (``None`` for
    implicit VR: the dictionary's is used) and ``None`` for a value too long to index.
    The values are decoded exactly as :func:`value_of` decodes pydicom's raw elements.

    Raises
    ------
    DatasetParseError
        If a key is longer than :data:`MAX_KEY_CHARS`.
    """
    charset = raw.get(0x00080005)
    try:
        encodings = _encodings_of(None if charset is None else charset[1])
    except Exception:  # noqa: BLE001 - unusable Specific Character Set: use the default
        encodings = convert_encodings(None)
    values: dict[str, Value] = dict(_ABSENT)
    for tag, (vr, raw_value) in raw.items():
        attr = _BY_TAG.get(tag)
        if attr is not None:
            value = _raw_value(raw_value, vr, little_endian, encodings, attr)
            values[attr.keyword] = _checked_key(attr, value) if attr.key else value
    return values


_BY_TAG = {a.tag: a for a in ATTRIBUTES}
_ABSENT: dict[str, Value] = {a.keyword: "" if a.key else None for a in ATTRIBUTES}


def values_from_dataset(ds: Dataset) -> dict[str, Value]:
    """Extract every attribute of :data:`~.schema.ATTRIBUTES` from ``ds``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A data set, typically from :func:`pacslink.store.parse.parse_header`.

    Returns
    -------
    dict
        Keyword -> value; keys (Patient ID and the UIDs) are ``""`` when missing.

    Raises
    ------
    DatasetParseError
        If a key is longer than :data:`MAX_KEY_CHARS`.
    """
    values: dict[str, Value] = {}
    try:
        encodings = _encodings(ds)
    except Exception:  # noqa: BLE001 - unusable Specific Character Set: use the default
        encodings = convert_encodings(None)
    for attr in ATTRIBUTES:
        value = value_of(ds, attr, encodings)
        values[attr.keyword] = _checked_key(attr, value) if attr.key else value
    return values


def stored_instance(
    values: Mapping[str, Value],
    *,
    path: str,
    size: int,
    sha256: str,
    transfer_syntax_uid: str,
    calling_ae: str,
    received_at: datetime,
) -> StoredInstance:
    """Build a :class:`~pacslink.models.StoredInstance` from keyword values.

    ``StoredInstance.attributes`` gets every non-empty value, as text, by keyword.
    """
    number = values.get("InstanceNumber")
    return StoredInstance(
        sop_instance_uid=str(values.get("SOPInstanceUID") or ""),
        sop_class_uid=str(values.get("SOPClassUID") or ""),
        series_instance_uid=str(values.get("SeriesInstanceUID") or ""),
        study_instance_uid=str(values.get("StudyInstanceUID") or ""),
        patient_id=str(values.get("PatientID") or ""),
        path=path,
        size=size,
        sha256=sha256,
        transfer_syntax_uid=transfer_syntax_uid,
        calling_ae=calling_ae,
        received_at=received_at,
        instance_number=number if isinstance(number, int) else None,
        attributes={k: _as_text(v) for k, v in values.items() if v is not None and v != ""},
    )


def _as_text(value: str | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


__all__ = [
    "MAX_KEY_CHARS",
    "MAX_TEXT_CHARS",
    "InstanceRecord",
    "Value",
    "clean_text",
    "stored_instance",
    "value_of",
    "values_from_dataset",
    "values_from_raw",
]
