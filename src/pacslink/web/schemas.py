"""Input validation and the JSON shapes of the web API (pydantic models).

Validation is strict when building (architecture habit 4) and its messages say how to
fix the input, in words a person understands: ``'1.2.03' is not a valid DICOM UID: ...``.
A failed check raises :class:`InputError`, which the application turns into a 422 JSON
``{"detail": "..."}`` (or an error panel on an HTML page).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from pydantic import BaseModel, Field, field_validator

from pacslink.models import RemoteAE, RetrieveMethod, SeriesSummary, StoredInstance, StudySummary

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_DATE_RANGE = re.compile(r"(\d{8})?(-)?(\d{8})?")
_MODALITY = re.compile(r"[A-Z0-9]{1,16}")
UID_MAX_LENGTH = 64


class InputError(ValueError):
    """A value the user gave is invalid; the message says what to give instead."""


def check_uid(value: str, what: str = "UID") -> str:
    """Check ``value`` against the UID syntax of PS3.5 9.1 and return it.

    Numbers without leading zeros, separated by dots, at most 64 characters.

    Examples
    --------
    >>> check_uid("1.2.840.10008.1.1")
    '1.2.840.10008.1.1'
    >>> check_uid("1.02", "Study Instance UID")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pacslink.web.schemas.InputError: Study Instance UID '1.02' is not a valid DICOM UID: ...
    """
    shown = value if len(value) <= 80 else value[:77] + "..."
    rule = ("numbers separated by dots, no leading zeros, at most 64 characters "
            "(PS3.5 9.1), e.g. 1.2.840.113619.2.55.3")
    if len(value) > UID_MAX_LENGTH:
        raise InputError(f"{what} {shown!r} is {len(value)} characters long; a DICOM UID has "
                         f"at most {UID_MAX_LENGTH}")
    if not _UID.fullmatch(value):
        raise InputError(f"{what} {shown!r} is not a valid DICOM UID: {rule}")
    return value


def _parse_date(text: str, what: str) -> datetime.date:
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise InputError(f"{what} {text} is not a calendar date (YYYYMMDD)") from None


def check_date_range(value: str) -> str:
    """Check a study date or range (``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD``, open ends allowed).

    ISO dates (``2025-01-31``) are not accepted here: the web page converts its date
    fields to the DICOM form (PS3.4 C.2.2.2.5 range matching).

    Examples
    --------
    >>> check_date_range("20250101-20251231")
    '20250101-20251231'
    >>> check_date_range("-20251231")
    '-20251231'
    >>> check_date_range("20251231-20250101")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pacslink.web.schemas.InputError: date range 20251231-20250101 ends before it starts; ...
    """
    text = value.strip()
    example = ("give a date as YYYYMMDD or a range as YYYYMMDD-YYYYMMDD (either end may be "
               "left open), e.g. 20250101-20251231")
    match = _DATE_RANGE.fullmatch(text)
    if not text or match is None or (match.group(2) is None and match.group(3) is not None) \
            or text == "-":
        raise InputError(f"date {value!r} is not understood; {example}")
    start, end = match.group(1), match.group(3)
    first = _parse_date(start, "date") if start else None
    last = _parse_date(end, "date") if end else None
    if first is not None and last is not None and last < first:
        raise InputError(f"date range {text} ends before it starts; put the earlier date "
                         "first, e.g. 20250101-20251231")
    return text


def check_modality(value: str) -> str:
    """Check a modality code such as ``CT`` (upper case letters and digits)."""
    text = value.strip().upper()
    if not _MODALITY.fullmatch(text):
        raise InputError(f"modality {value!r} is not a modality code; use e.g. CT, MR, US, "
                         "DX, CR or XC")
    return text


# --- JSON shapes ---------------------------------------------------------------------


class RemoteAEOut(BaseModel):
    """A configured remote AE, as ``pacslink ae list --json`` prints it."""

    name: str
    ae_title: str
    host: str
    port: int
    retrieve: str
    description: str
    address: str
    tls: bool = Field(description="Our SCU uses DICOM TLS towards this AE.")

    @classmethod
    def of(cls, ae: RemoteAE) -> RemoteAEOut:
        return cls(name=ae.name, ae_title=ae.ae_title, host=ae.host, port=ae.port,
                   retrieve=ae.retrieve.value, description=ae.description, address=ae.address,
                   tls=ae.tls)


class RemoteAEIn(BaseModel):
    """A remote AE to add (the fields of ``pacslink ae add``)."""

    name: str = Field(description="Local name, e.g. PACS1: letters, digits, '.', '_', '-'.")
    ae_title: str = Field(description="The remote AE title, 1-16 characters.")
    host: str = Field(description="Host name or IP address.")
    port: int | str = Field(description="TCP port, 1-65535.")
    description: str = ""
    retrieve: RetrieveMethod = RetrieveMethod.AUTO
    tls: bool = Field(False, description="Use DICOM TLS towards this AE (needs tls_ca).")


class RemoteAEPatch(BaseModel):
    """Changes to a remote AE (the options of ``pacslink ae edit``); omitted fields stay."""

    name: str | None = Field(None, description="A new local name (renames the entry).")
    ae_title: str | None = None
    host: str | None = None
    port: int | str | None = None
    description: str | None = None
    retrieve: RetrieveMethod | None = None
    tls: bool | None = None


class EchoOut(BaseModel):
    """The outcome of a C-ECHO (PS3.7 9.1.5)."""

    ae: str
    ok: bool
    status: int | None
    round_trip_ms: float | None
    error: str


class LocalAEOut(BaseModel):
    """This pacslink: its AE title and where its Storage SCP listens."""

    ae_title: str
    port: int
    bind: str
    listening: bool
    listener_error: str | None
    home: str
    store_dir: str


class SettingsOut(BaseModel):
    """The settings page's data: this pacslink and the remote AEs."""

    local: LocalAEOut
    aes: list[RemoteAEOut]


class RetrieveIn(BaseModel):
    """What to retrieve, and from where (``pacslink retrieve AE --study ... --series ...``)."""

    ae: str = Field(description="A configured AE name.")
    study_instance_uid: str
    series_instance_uid: str | None = None
    sop_instance_uids: list[str] = Field(default_factory=list, max_length=10_000)
    patient_id: str | None = None
    method: RetrieveMethod | None = Field(None, description="move, get or auto; default: the AE's.")
    retries: int = Field(0, ge=0, le=5, description="Re-request missing instances up to N times.")

    @field_validator("study_instance_uid")
    @classmethod
    def _study(cls, value: str) -> str:
        return check_uid(value, "Study Instance UID")

    @field_validator("series_instance_uid")
    @classmethod
    def _series(cls, value: str | None) -> str | None:
        return None if value is None else check_uid(value, "Series Instance UID")

    @field_validator("sop_instance_uids")
    @classmethod
    def _instances(cls, value: list[str]) -> list[str]:
        return [check_uid(uid, "SOP Instance UID") for uid in value]


def study_json(study: StudySummary) -> dict[str, Any]:
    """A locally held study (index values; dates as received, ``YYYYMMDD``)."""
    return {
        "study_instance_uid": study.study_instance_uid, "patient_id": study.patient_id,
        "patient_name": study.patient_name, "patient_birth_date": study.patient_birth_date,
        "patient_sex": study.patient_sex, "study_date": study.study_date,
        "study_time": study.study_time, "study_description": study.study_description,
        "accession_number": study.accession_number, "modalities": list(study.modalities),
        "series_count": study.series_count, "instance_count": study.instance_count,
    }


def instance_json(item: StoredInstance) -> dict[str, Any]:
    """One locally held instance, as the viewer lists it."""
    attrs = item.attributes
    frames = attrs.get("NumberOfFrames") or ""
    return {
        "sop_instance_uid": item.sop_instance_uid, "sop_class_uid": item.sop_class_uid,
        "instance_number": item.instance_number,
        "rows": _int(attrs.get("Rows")), "columns": _int(attrs.get("Columns")),
        "frames": _int(frames) or 1,
        "image": _int(attrs.get("Rows")) is not None,
    }


def series_json(series: SeriesSummary, *, with_instances: bool = False) -> dict[str, Any]:
    """A locally held series; a thumbnail instance is the middle image, if any."""
    images = [i for i in series.instances if _int(i.attributes.get("Rows")) is not None]
    out: dict[str, Any] = {
        "series_instance_uid": series.series_instance_uid, "modality": series.modality,
        "series_number": series.series_number, "series_description": series.series_description,
        "local_count": series.instance_count,
        "thumbnail_sop_instance_uid": images[len(images) // 2].sop_instance_uid if images else None,
    }
    if with_instances:
        out["instances"] = [instance_json(i) for i in series.instances]
    return out


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


__all__ = [
    "EchoOut",
    "InputError",
    "LocalAEOut",
    "RemoteAEIn",
    "RemoteAEOut",
    "RemoteAEPatch",
    "RetrieveIn",
    "SettingsOut",
    "check_date_range",
    "check_modality",
    "check_uid",
    "instance_json",
    "series_json",
    "study_json",
]
