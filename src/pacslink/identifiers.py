"""Query/Retrieve identifiers: built strictly from a query, read tolerantly.

An *identifier* is the data set after a C-FIND, C-MOVE or C-GET command (PS3.4 C.4.1.1.3,
C.4.2.1.4, C.4.3.1.3): the Query/Retrieve Level (0008,0052), *matching keys* (values to
match) and *return keys* (empty attributes the SCP fills in). Queries are hierarchical
(PS3.4 C.4.1.2.1): above the query level only each level's unique key, with one value.

Building raises :class:`~pacslink.errors.QueryError` naming the ``pacslink find`` or
``pacslink retrieve`` option to fix; decoding keeps odd values as received text.

>>> ds = build_find_identifier(Query(patient_id="VET001"), QueryModel.STUDY_ROOT)
>>> ds.QueryRetrieveLevel, ds.PatientID, ds.StudyInstanceUID
('STUDY', 'VET001', None)
"""

from __future__ import annotations

import contextlib
import functools
import re
import struct
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Final, cast

from pydicom import config
from pydicom.charset import convert_encodings, decode_bytes, default_encoding
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import multi_string

from pacslink import conformance as cf
from pacslink.errors import QueryError
from pacslink.models import Query, QueryLevel, QueryMatch, QueryModel

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
_ENCODINGS: Final = {cf.IMPLICIT_VR_LITTLE_ENDIAN: (True, True),  # (implicit VR, little endian)
                     cf.EXPLICIT_VR_LITTLE_ENDIAN: (False, True),
                     cf.EXPLICIT_VR_BIG_ENDIAN: (False, False)}
_BINARY: Final = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q",
                  "FL": "f", "FD": "d", "AT": "H"}
_CONTROL: Final = {0x09, 0x0A, 0x0C, 0x0D}
_TEXT_DELIMITERS: Final = {"SH": {0x5C}, "LO": {0x5C}, "UC": {0x5C}, "PN": {0x5C, 0x5E, 0x3D},
                           "ST": _CONTROL, "LT": _CONTROL, "UT": _CONTROL}
_DEFAULT_REPERTOIRE: Final = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
_SINGLE_VALUED: Final = {"ST", "LT", "UT", "UR"}  # a backslash is text, not a separator
_TAG_LENGTH: Final = struct.Struct("<HHL")  # tag and 4-byte length (implicit VR)
_LENGTH: Final = struct.Struct("<L")
#: Two-letter explicit VRs (PS3.5 7.1.2) and those with a 4-byte length field.
_EXPLICIT_VRS: Final = {str(vr).encode(): str(vr) for vr in VR if len(str(vr)) == 2}
_LONG_LENGTH_VRS: Final = {str(vr) for vr in EXPLICIT_VR_LENGTH_32}
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
    return _dataset(level, {**dict.fromkeys(return_keys(level, model), ""), **values})


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
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = _encoding(transfer_syntax_uid)
    try:
        write_dataset(fp, ds)
    except Exception as exc:  # pydicom raises many types for values it cannot encode
        raise QueryError(f"the identifier cannot be encoded: {exc}") from exc
    return fp.getvalue()


def decode_identifier(data: bytes, transfer_syntax_uid: str, level: QueryLevel) -> QueryMatch:
    """Read a received identifier, e.g. a C-FIND match, as text (PS3.4 C.4.1.1.3).

    Text is decoded per Specific Character Set (PS3.5 6.1; undecodable bytes become
    U+FFFD); values are joined by a backslash, binary numbers written in decimal, empty
    attributes ``""``. Private, group-length, bulk and sequence elements are left out.
    pydicom's value validation is not used: its warnings would quote values into logs.

    ``data`` is the identifier as carried in P-DATA, in the presentation context's
    ``transfer_syntax_uid`` (as for :func:`encode_identifier`); ``level`` is the request's.
    QueryError is raised only if ``data`` is not a data set at all (truncated, no element).

    A little endian identifier of defined-length elements (what SCPs send) is read by
    :func:`_plain_elements`, about ten times faster than building a pydicom Dataset;
    anything else (undefined lengths, big endian, an unknown VR, a truncated element)
    is read by pydicom, with the same result.
    """
    implicit, little = _encoding(transfer_syntax_uid)
    plain = _plain_elements(data, implicit) if little else None
    charset = plain.get(0x00080005) if plain is not None else None
    encodings = _plain_charset(charset[1] if charset is not None else b"")
    if plain is None or encodings is None:
        return _decode_with_pydicom(data, implicit, little, level)
    attributes: dict[str, str] = {}
    for tag, (vr, raw) in plain.items():
        try:
            keyword, text = _raw_text(tag, vr, raw, True, encodings)
        except Exception:  # noqa: BLE001, S112 - a malformed value is left out: tolerant reading
            continue
        if text is not None:
            attributes[keyword] = text
    return QueryMatch(level=level, attributes=attributes)


def _plain_elements(data: bytes, implicit: bool) -> dict[int, tuple[str | None, bytes]] | None:
    """The top-level elements of a little endian data set: tag -> (VR or None, value).

    Returns ``None`` (read it with pydicom instead) for anything but a plain data set:
    no element, an undefined length, a delimiter, an unknown explicit VR, a truncated
    element. Fewer than 8 trailing bytes are ignored, as pydicom does.
    """
    elements: dict[int, tuple[str | None, bytes]] = {}
    unpack = _TAG_LENGTH.unpack_from
    end = len(data)
    pos = 0
    while end - pos >= 8:
        group, element, length = unpack(data, pos)
        vr: str | None = None
        if implicit:
            pos += 8
        else:
            vr = _EXPLICIT_VRS.get(data[pos + 4 : pos + 6])
            if vr is None:
                return None
            if vr in _LONG_LENGTH_VRS:
                if end - pos < 12:
                    return None
                (length,) = _LENGTH.unpack_from(data, pos + 8)
                pos += 12
            else:
                length >>= 16
                pos += 8
        if length > end - pos or group == 0xFFFE:  # truncated, undefined length, item tags
            return None
        elements[group << 16 | element] = (vr, data[pos : pos + length])
        pos += length
    return elements or None


@functools.lru_cache(maxsize=64)
def _plain_charset(value: bytes) -> list[str] | None:
    """Codecs for a raw (0008,0005) value, or ``None`` when pydicom's reader stops at it
    (e.g. an embedded NUL): such an identifier is left to pydicom, which rejects it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # _encodings_of_value says it, once
            convert_encodings(multi_string(value.decode(default_encoding)))
    except Exception:  # noqa: BLE001 - what the reader raises, decode_identifier reports
        return None
    return _encodings_of_value(value)


def _decode_with_pydicom(data: bytes, implicit: bool, little: bool, level: QueryLevel) -> QueryMatch:
    fp = cast(BinaryIO, DicomBytesIO(bytes(data)))
    try:  # ds.keys(): iterating a Dataset would convert (and validate) every element
        ds = read_dataset(fp, implicit, little)
        elements = [ds.get_item(tag) for tag in ds.keys()]  # noqa: SIM118
    except Exception as exc:  # pydicom raises many types on malformed input
        raise QueryError(f"the identifier is not a DICOM data set: {exc}") from exc
    if not elements or any(isinstance(e, RawDataElement) and e.length != 0xFFFFFFFF
                           and len(e.value or b"") != e.length for e in elements):
        raise QueryError(f"the identifier is not a DICOM data set: {len(data)} bytes, "
                         "no element or the last one truncated")
    encodings = _encodings_of(ds)
    attributes: dict[str, str] = {}
    for elem in elements:
        with contextlib.suppress(Exception):  # a malformed value is left out: tolerant reading
            keyword, text = _element_text(elem, encodings)
            if text is not None:
                attributes[keyword] = text
    return QueryMatch(level=level, attributes=attributes)


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


def _dataset(level: QueryLevel, values: Mapping[str, str]) -> Dataset:
    """Values are validated already; pydicom's checks, which log values, are skipped."""
    ds = Dataset()
    if not all(value.isascii() for value in values.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level.value
    for keyword, value in values.items():
        content: Any = (value.split("\\") if "\\" in value else value) if value else None
        vr = dictionary_VR(keyword)
        ds[keyword] = DataElement(keyword, vr, content, validation_mode=config.IGNORE)
    return ds


def _encoding(transfer_syntax_uid: str) -> tuple[bool, bool]:
    if transfer_syntax_uid not in _ENCODINGS:
        raise QueryError(f"transfer syntax {transfer_syntax_uid!r} is not used for identifiers; "
                         "use Implicit or Explicit VR Little Endian, or Explicit VR Big Endian")
    return _ENCODINGS[transfer_syntax_uid]


def _encodings_of(ds: Dataset) -> list[str]:
    """Python codecs for (0008,0005) Specific Character Set; the default when unusable."""
    try:
        elem = ds.get_item(0x00080005)
    except Exception:  # noqa: BLE001 - an unusable character set falls back to the default
        elem = None
    return _encodings_of_value(elem.value if isinstance(elem, RawDataElement) else None)


def _encodings_of_value(value: bytes | None) -> list[str]:
    """Python codecs for the raw value of (0008,0005); the default when unusable."""
    try:
        text = bytes(value or b"").decode("latin-1")
        return convert_encodings([t.strip(" \x00") for t in text.split("\\")])
    except Exception:  # noqa: BLE001 - an unusable character set falls back to the default
        return ["iso8859"]


def _element_text(
    elem: DataElement | RawDataElement, encodings: list[str]
) -> tuple[str, str | None]:
    """``(keyword, text)`` of one element; text ``None`` for elements left out."""
    if isinstance(elem, RawDataElement):
        return _raw_text(int(elem.tag), elem.VR, bytes(elem.value or b""),
                         elem.is_little_endian, encodings)
    keyword, vr = _describe(int(elem.tag), elem.VR)
    if vr is None:
        return keyword, None
    # pydicom converts empty and undefined-length ones
    return keyword, None if elem.value or vr == "SQ" else ""


@functools.lru_cache(maxsize=4096)
def _describe(tag: int, vr: str | None) -> tuple[str, str | None]:
    """``(keyword, VR)`` of an element; VR ``None`` for elements left out (private,
    group length, command, file meta and item tags, Specific Character Set). A VR that
    is absent (implicit VR) or UN is looked up in the data dictionary."""
    keyword = keyword_for_tag(tag)
    group, element = tag >> 16, tag & 0xFFFF
    if (not keyword or group % 2 or element == 0 or group in (0, 2, 0xFFFE)
            or keyword == "SpecificCharacterSet"):
        return keyword, None
    return keyword, vr if vr not in (None, "UN") else dictionary_VR(tag).split(" ")[0]


def _raw_text(
    tag: int, received_vr: str | None, raw: bytes, little_endian: bool, encodings: list[str]
) -> tuple[str, str | None]:
    """``(keyword, text)`` of an element's raw value; text ``None`` for elements left out."""
    keyword, vr = _describe(tag, received_vr)
    if vr is None:
        return keyword, None
    if vr in _BINARY:
        count = len(raw) // struct.calcsize(_BINARY[vr])
        numbers = struct.unpack(f"{'<' if little_endian else '>'}{count}{_BINARY[vr]}",
                                raw[: count * struct.calcsize(_BINARY[vr])])
        if vr == "AT":
            pairs = zip(numbers[::2], numbers[1::2])
            return keyword, "\\".join(f"{group:04X}{element:04X}" for group, element in pairs)
        return keyword, "\\".join(f"{n:.7g}" if vr == "FL" else repr(n) for n in numbers)
    if vr in _TEXT_DELIMITERS:
        text = _decode_text(raw, encodings, _TEXT_DELIMITERS[vr])
    elif vr in _DEFAULT_REPERTOIRE:
        text = raw.decode("latin-1")
    else:  # OB, OW, SQ ...: not text
        return keyword, None
    text = text.replace("\x00", "")
    if vr in _SINGLE_VALUED:  # leading spaces are significant (PS3.5 6.2)
        return keyword, text.rstrip(" ")
    if "\\" not in text:
        return keyword, text.strip(" ")
    return keyword, "\\".join(part.strip(" ") for part in text.split("\\"))


def _decode_text(raw: bytes, encodings: list[str], delimiters: set[int]) -> str:
    try:
        if b"\x1b" in raw:  # ISO 2022 code extensions (PS3.5 6.1.2.5)
            return decode_bytes(raw, encodings, delimiters)
        return raw.decode(encodings[0], errors="replace")
    except Exception:  # noqa: BLE001 - undecodable: keep the bytes visible
        return raw.decode("latin-1")


__all__ = [
    "build_find_identifier", "build_retrieve_identifier", "decode_identifier",
    "encode_identifier", "find_sop_class", "get_sop_class", "move_sop_class", "return_keys",
]
