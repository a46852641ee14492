"""Query/Retrieve identifiers: built strictly from a query, read tolerantly.

An *identifier* is the data set after a C-FIND, C-MOVE or C-GET command (PS3.4 C.4.1.1.3,
C.4.2.1.4, C.4.3.1.3): the Query/Retrieve Level (0008,0052), *matching keys* (values to
match) and *return keys* (empty attributes the SCP fills in). Queries are hierarchical
(PS3.4 C.4.1.2.1): above the query level only each level's unique key, with one value.

Building raises :class:`~pacslink.errors.QueryError` naming the ``pacslink find`` or
``pacslink retrieve`` option to fix; decoding (:mod:`pacslink.identifier_reader`,
re-exported here as :func:`decode_identifier`) keeps odd values as received text.

>>> ds = build_find_identifier(Query(patient_id="VET001"), QueryModel.STUDY_ROOT)
>>> ds.QueryRetrieveLevel, ds.PatientID, ds.StudyInstanceUID
('STUDY', 'VET001', None)
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from pacslink import conformance as cf
from pacslink.errors import QueryError
from pacslink.identifier_reader import decode_identifier, transfer_syntax_encoding
from pacslink.models import Query, QueryLevel, QueryModel
from pacslink.query_dictionary import BY_KEYWORD

if TYPE_CHECKING:  # pydicom is imported when a Dataset is built (0.14 s with its plugins)
    from pydicom.dataset import Dataset

_PATIENT, _STUDY, _SERIES, _IMAGE = _LEVELS = tuple(QueryLevel)
_UNIQUE_KEYS: Final = {  # unique key of each level (PS3.4 C.6.1.1, C.6.2.1)
    _PATIENT: "PatientID", _STUDY: "StudyInstanceUID",
    _SERIES: "SeriesInstanceUID", _IMAGE: "SOPInstanceUID"}
_LEVEL_OF: Final = {kw: level for level, kw in _UNIQUE_KEYS.items()}
_A: Final = {level: f"{'an' if level is _IMAGE else 'a'} {level.value}" for level in _LEVELS}
_PATIENT_KEYS: Final = ("PatientName", "PatientBirthDate", "PatientSex")
_EXTRA_KEYS: Final = {  # requested besides the statement's table
    _PATIENT: ("PatientID", *_PATIENT_KEYS), _SERIES: ("NumberOfSeriesRelatedInstances",),
    _STUDY: (*_PATIENT_KEYS, "NumberOfStudyRelatedInstances", "ModalitiesInStudy"), _IMAGE: ()}
_QUERY_FIELDS: Final = {  # keyword -> (Query field, pacslink find option)
    "PatientID": ("patient_id", "--patient-id"), "PatientName": ("patient_name", "--name"),
    "StudyDate": ("study_date", "--date"), "Modality": ("modality", "--modality"),
    "AccessionNumber": ("accession_number", "--accession"),
    "StudyInstanceUID": ("study_instance_uid", "--study-uid"),
    "SeriesInstanceUID": ("series_instance_uid", "--series-uid"),
    "SOPInstanceUID": ("sop_instance_uid", "--instance-uid")}
_FIND_FLAGS: Final = {kw: flag for kw, (_, flag) in _QUERY_FIELDS.items()}
_RETRIEVE_FLAGS: Final = {"PatientID": "--patient-id", "StudyInstanceUID": "--study",
                          "SeriesInstanceUID": "--series", "SOPInstanceUID": "--instance"}
_MATCH_LEVELS: Final = {  # levels at which a key may carry a matching value
    "PatientID": _LEVELS, "PatientName": (_PATIENT, _STUDY), "StudyDate": (_STUDY,),
    "AccessionNumber": (_STUDY,), "Modality": (_STUDY, _SERIES),
    "StudyInstanceUID": (_STUDY, _SERIES, _IMAGE), "SeriesInstanceUID": (_SERIES, _IMAGE),
    "SOPInstanceUID": (_IMAGE,)}
_MAX_LENGTH: Final = {"PatientID": (64, "LO"), "AccessionNumber": (16, "SH"),
                      "Modality": (16, "CS")}
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_DATE = re.compile(r"(\d{8})(-(\d{8})?)?|-(\d{8})")
_CS = re.compile(r"[A-Z0-9 _*?]+")
_SOP_CLASSES: Final = {  # model -> (FIND, MOVE, GET)
    QueryModel.PATIENT_ROOT: (cf.PATIENT_ROOT_QR_FIND, cf.PATIENT_ROOT_QR_MOVE,
                              cf.PATIENT_ROOT_QR_GET),
    QueryModel.STUDY_ROOT: (cf.STUDY_ROOT_QR_FIND, cf.STUDY_ROOT_QR_MOVE, cf.STUDY_ROOT_QR_GET)}


def return_keys(level: QueryLevel, model: QueryModel) -> tuple[str, ...]:
    """Return the keywords a C-FIND at ``level`` requests (PS3.4 C.6.1.1, C.6.2.1).

    The statement's keys for the level (:data:`~pacslink.conformance.QUERY_KEYS`), the
    patient attributes and counts the level allows, and the unique keys of the levels above
    that ``model`` carries (PS3.4 C.4.1.2.1). Raises QueryError for PATIENT in Study Root.
    """
    _check_model(level, model)
    depth = _LEVELS.index(level)
    patient = ["PatientID"] if model is QueryModel.PATIENT_ROOT and depth else []
    above = patient + [_UNIQUE_KEYS[upper] for upper in _LEVELS[1:depth]]
    return tuple(dict.fromkeys([*above, *cf.QUERY_KEYS.get(level.value, ()), *_EXTRA_KEYS[level]]))


def build_find_identifier(query: Query, model: QueryModel) -> Dataset:
    """Build the C-FIND request identifier of ``query`` (PS3.4 C.4.1.1.3).

    The keys of :func:`return_keys`, empty unless ``query`` gives a value (at STUDY level
    ``modality`` matches Modalities in Study); Specific Character Set ``ISO_IR 192`` when a
    value is not ASCII. A Patient ID with a Study Root SERIES or IMAGE query is not sent.

    Parameters
    ----------
    query : Query
        What to match; the unique key of the query level may be a backslash-separated UID
        list (PS3.4 C.2.2.2.2), those above need single values.
    model : QueryModel
        Patient Root or Study Root (PS3.4 C.6.1, C.6.2).

    Raises
    ------
    QueryError
        For a level the model lacks, a missing unique key above the level, a key that does
        not apply at the level, or a value breaking its VR (PS3.5 6.2, 9.1).
    """
    return _dataset(query.level, find_identifier_values(query, model))


def encode_find_identifier(query: Query, model: QueryModel, transfer_syntax_uid: str) -> bytes:
    """:func:`build_find_identifier` encoded as by :func:`encode_identifier`, without
    pydicom: the bytes are the same (``tests/test_query_dictionary.py`` compares them)."""
    return encode_values(query.level, find_identifier_values(query, model), transfer_syntax_uid)


def find_identifier_values(query: Query, model: QueryModel) -> dict[str, str]:
    """The keys of :func:`build_find_identifier` by keyword, ``""`` for a return key.

    Checks ``query`` as :func:`build_find_identifier` does (same QueryError), without
    building a data set.
    """
    level = query.level
    _check_model(level, model)
    raw = {kw: getattr(query, field) for kw, (field, _) in _QUERY_FIELDS.items()}
    given = {kw: value.strip() for kw, value in raw.items() if value and value.strip()}
    for kw in given:
        if level not in _MATCH_LEVELS[kw]:
            levels = " or ".join(lvl.value.lower() for lvl in _MATCH_LEVELS[kw])
            raise QueryError(f"{_FIND_FLAGS[kw]} cannot be used in {_A[level]} query "
                             f"(PS3.4 C.4.1.2.1): use --level {levels}")
    values = {kw: _valid(kw, value, _FIND_FLAGS[kw], level) for kw, value in given.items()}
    if level is _STUDY and model is QueryModel.PATIENT_ROOT and "PatientName" in values:
        raise QueryError("Patient Root at STUDY level matches the patient by --patient-id only "
                         "(PS3.4 C.4.1.2.1): drop --name, or use --model study or --level patient")
    _require(level, model, values, _FIND_FLAGS, "query")
    if model is QueryModel.STUDY_ROOT and level in (_SERIES, _IMAGE):
        values.pop("PatientID", None)
    if level is _STUDY and "Modality" in values:
        values["ModalitiesInStudy"] = values.pop("Modality")
    return {**dict.fromkeys(return_keys(level, model), ""), **values}


def build_retrieve_identifier(
    level: QueryLevel,
    *,
    patient_id: str | None = None,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uids: str | Sequence[str] = (),
    model: QueryModel = QueryModel.STUDY_ROOT,
) -> Dataset:
    """Build a C-MOVE or C-GET request identifier (PS3.4 C.4.2.1.4, C.4.2.2.1).

    It holds unique keys only: the one of ``level``, which may be a list, and a single
    value for each level above (Patient ID in Patient Root; checked, not sent, in Study Root).

    Raises QueryError as :func:`build_find_identifier` does, naming ``pacslink retrieve``
    options.

    Parameters
    ----------
    level : QueryLevel
        What to retrieve: a PATIENT (Patient Root only), STUDY, SERIES or IMAGE.
    patient_id, study_instance_uid, series_instance_uid : str, optional
        Unique keys; the one of ``level`` may be a backslash-separated list.
    sop_instance_uids : str or sequence of str
        At IMAGE level, the instances to retrieve (e.g. only the missing ones).
    model : QueryModel
        The information model of the C-MOVE or C-GET SOP class used.
    """
    _check_model(level, model)
    uids = [sop_instance_uids] if isinstance(sop_instance_uids, str) else list(sop_instance_uids)
    raw = {"PatientID": patient_id, "StudyInstanceUID": study_instance_uid,
           "SeriesInstanceUID": series_instance_uid, "SOPInstanceUID": "\\".join(uids)}
    given = {kw: value.strip() for kw, value in raw.items() if value and value.strip()}
    for kw in given:
        if kw != "PatientID" and _LEVELS.index(level) < _LEVELS.index(_LEVEL_OF[kw]):
            raise QueryError(f"{_RETRIEVE_FLAGS[kw]} cannot be used to retrieve {_A[level]}: "
                             f"retrieve at level {_LEVEL_OF[kw].value}")
    values = {kw: _valid(kw, value, _RETRIEVE_FLAGS[kw], level) for kw, value in given.items()}
    _require(level, model, values, _RETRIEVE_FLAGS, "retrieve")
    if level is not _PATIENT and _UNIQUE_KEYS[level] not in values:
        flag = _RETRIEVE_FLAGS[_UNIQUE_KEYS[level]]
        raise QueryError(f"{_A[level]} retrieve needs {flag} (PS3.4 C.4.2.2.1)")
    if model is QueryModel.STUDY_ROOT:
        values.pop("PatientID", None)
    return _dataset(level, values)


def encode_identifier(ds: Dataset, transfer_syntax_uid: str) -> bytes:
    """Encode ``ds`` as it travels in P-DATA, without preamble or file meta (PS3.7 6.3.1).

    ``transfer_syntax_uid`` is Implicit VR Little Endian, Explicit VR Little Endian or
    Explicit VR Big Endian; QueryError for another, or a value pydicom cannot encode.
    """
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = transfer_syntax_encoding(transfer_syntax_uid)
    try:
        write_dataset(fp, ds)
    except Exception as exc:  # pydicom raises many types for values it cannot encode
        raise QueryError(f"the identifier cannot be encoded: {exc}") from exc
    return fp.getvalue()


def find_sop_class(model: QueryModel) -> str:
    """Return the C-FIND SOP Class UID of ``model`` (PS3.4 C.6.1.1.1, C.6.2.1.1)."""
    return _SOP_CLASSES[model][0]


def move_sop_class(model: QueryModel) -> str:
    """Return the C-MOVE SOP Class UID of ``model`` (PS3.4 C.6.1.2, C.6.2.2)."""
    return _SOP_CLASSES[model][1]


def get_sop_class(model: QueryModel) -> str:
    """Return the C-GET SOP Class UID of ``model`` (PS3.4 C.6.1.3, C.6.2.3)."""
    return _SOP_CLASSES[model][2]


def _check_model(level: QueryLevel, model: QueryModel) -> None:
    if level is _PATIENT and model is QueryModel.STUDY_ROOT:
        raise QueryError("PATIENT level needs --model patient: the Study Root model has no "
                         "PATIENT level (PS3.4 C.6.2.1); or query at level study")


def _require(level: QueryLevel, model: QueryModel, values: Mapping[str, str],
             flags: Mapping[str, str], what: str) -> None:
    """Raise unless the unique key of every level above ``level`` has a value."""
    needed = level is not _PATIENT or what == "retrieve"
    if model is QueryModel.PATIENT_ROOT and "PatientID" not in values and needed:
        raise QueryError(f"Patient Root at {level.value} level needs --patient-id "
                         f"(PS3.4 C.6.1.1.2); or use --model study")
    missing = [flags[_UNIQUE_KEYS[upper]] for upper in _LEVELS[1:_LEVELS.index(level)]
               if _UNIQUE_KEYS[upper] not in values]
    if missing:
        raise QueryError(f"{_A[level]} {what} needs {' and '.join(missing)} "
                         f"(PS3.4 C.4.1.2.1: the unique key of each level above)")


def _valid(keyword: str, value: str, flag: str, level: QueryLevel) -> str:
    """Check one matching value against its VR; return it (Modality upper-cased)."""
    if keyword in _LEVEL_OF and keyword != "PatientID":
        uids = value.split("\\")
        if len(uids) > 1 and keyword != _UNIQUE_KEYS[level]:
            raise QueryError(f"{flag} takes a single UID above the {level.value} level "
                             f"(PS3.4 C.4.1.2.1), got a list of {len(uids)}")
        for uid in uids:
            rule = "(PS3.5 9.1: digits and dots, no leading zeros, at most 64 characters)"
            if len(uid) > 64:
                raise QueryError(f"{flag} is not a valid UID: {len(uid)} characters long {rule}")
            if not _UID.fullmatch(uid):
                parts = uid.split(".")
                reason = ("a component has a leading zero" if any(
                    p[:1] == "0" and p.isdigit() and p != "0" for p in parts) else "an empty "
                    "component" if "" in parts else "a character other than a digit or a dot")
                raise QueryError(f"{flag} {uid!r} is not a valid UID: {reason} {rule}")
        return value
    if "\\" in value:
        raise QueryError(f"{flag} holds a backslash, which separates values in DICOM; "
                         f"{keyword} takes a single value")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise QueryError(f"{flag} holds a control character; remove it")
    value = value.upper() if keyword == "Modality" else value
    limit, vr = _MAX_LENGTH.get(keyword, (64, "PN component group"))
    for part in value.split("=") if keyword == "PatientName" else [value]:
        if len(part) > limit:
            raise QueryError(f"{flag} is {len(part)} characters long; {vr} allows at most "
                             f"{limit} (PS3.5 6.2)")
    if keyword == "StudyDate":
        _check_date(flag, value)
    elif keyword == "PatientID" and ("*" in value or "?" in value):
        raise QueryError(f"{flag} matches one patient exactly; '*' and '?' are wildcards "
                         f"(PS3.4 C.2.2.2.4): use --name to search by pattern")
    elif keyword == "PatientName" and (
        value.count("=") > 2 or any(group.count("^") > 4 for group in value.split("="))
    ):
        raise QueryError(f"{flag} must be FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX: at most 5 "
                         f"components and 3 '='-separated groups (PS3.5 6.2.1.1)")
    elif keyword == "Modality" and not _CS.fullmatch(value):
        raise QueryError(f"{flag} must be a modality code such as CT or MR (letters, digits, "
                         f"'_', wildcards), got {value!r}")
    return value


def _check_date(flag: str, value: str) -> None:
    if not (match := _DATE.fullmatch(value)):
        raise QueryError(f"{flag} must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD, got {value!r}")
    start, end = match[1], match[3] or match[4]
    try:
        [datetime.strptime(date, "%Y%m%d") for date in (start, end) if date]
    except ValueError:
        raise QueryError(f"{flag} {value!r} is not a calendar date or range") from None
    if start and end and start > end:
        raise QueryError(f"{flag} {value!r}: the range ends before it starts")


def _character_set(values: Mapping[str, str]) -> str | None:
    """Specific Character Set of an identifier we send: UTF-8 (``ISO_IR 192``) when a
    value is not ASCII, else none (the default repertoire, PS3.5 6.1.2.1)."""
    return None if all(value.isascii() for value in values.values()) else "ISO_IR 192"


def encode_values(level: QueryLevel, values: Mapping[str, str], transfer_syntax_uid: str) -> bytes:
    """Encode checked identifier values by hand (PS3.5 7.1), as :func:`_dataset` and
    :func:`encode_identifier` would: elements in tag order, Query/Retrieve Level and, for
    non-ASCII values, Specific Character Set ``ISO_IR 192`` added, multiple values
    separated by a backslash, odd lengths padded (UI with NUL, others with a space).

    A keyword outside :mod:`pacslink.query_dictionary` is encoded through pydicom.
    """
    implicit, little = transfer_syntax_encoding(transfer_syntax_uid)
    elements = {"QueryRetrieveLevel": level.value, **values}
    charset = _character_set(values)
    if charset:
        elements["SpecificCharacterSet"] = charset
    if any(keyword not in BY_KEYWORD for keyword in elements):
        return encode_identifier(_dataset(level, values), transfer_syntax_uid)
    order = "<" if little else ">"
    header = struct.Struct(order + ("HHL" if implicit else "HH2sH"))
    parts: list[bytes] = []
    for keyword in sorted(elements, key=lambda kw: BY_KEYWORD[kw][0]):
        tag, vr = BY_KEYWORD[keyword]
        raw = elements[keyword].encode("utf-8")
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
        if implicit:
            parts.append(header.pack(tag >> 16, tag & 0xFFFF, len(raw)))
        else:
            parts.append(header.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(raw)))
        parts.append(raw)
    return b"".join(parts)


def _dataset(level: QueryLevel, values: Mapping[str, str]) -> Dataset:
    """Values are validated already; pydicom's checks, which log values, are skipped."""
    from pydicom import config
    from pydicom.datadict import dictionary_VR
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    ds = Dataset()
    charset = _character_set(values)
    if charset:
        ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = level.value
    for keyword, value in values.items():
        content: Any = (value.split("\\") if "\\" in value else value) if value else None
        vr = dictionary_VR(keyword)
        ds[keyword] = DataElement(keyword, vr, content, validation_mode=config.IGNORE)
    return ds


__all__ = [
    "build_find_identifier", "build_retrieve_identifier", "decode_identifier",
    "encode_find_identifier", "encode_identifier", "encode_values", "find_identifier_values", "find_sop_class", "get_sop_class", "move_sop_class", "return_keys",
]
