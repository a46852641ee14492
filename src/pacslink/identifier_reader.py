"""Reading received identifiers as text (PS3.4 C.4.1.1.3): C-FIND matches, and the
requests pacslink's own Q/R SCP answers.

Tolerant by design: a peer's odd values are kept as received text, malformed elements
are left out, and only bytes that are not a data set at all raise
:class:`~pacslink.errors.QueryError`. Plain little endian identifiers (what SCPs send)
are read by hand; anything unusual by pydicom, with the same result. pydicom is imported
only then, or for a tag outside :mod:`pacslink.query_dictionary` or an unusual Specific
Character Set: ``pacslink find`` usually runs without it (0.14 s less start-up).
"""

from __future__ import annotations

import contextlib
import functools
import struct
import warnings
from typing import TYPE_CHECKING, BinaryIO, Final, cast

from pacslink import conformance as cf
from pacslink.errors import QueryError
from pacslink.models import QueryLevel, QueryMatch
from pacslink.query_dictionary import BY_TAG
from pacslink.vr import LONG_LENGTH_VRS, VR_TEXT

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.dataset import Dataset

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
#: Python codecs of the commonest raw Specific Character Set values, as pydicom's
#: ``convert_encodings`` gives them (checked by tests/test_query_dictionary.py).
COMMON_CHARSETS: Final = {b"": ("iso8859",), b"ISO_IR 100": ("latin_1",),
                          b"ISO_IR 192": ("UTF8",)}


def decode_identifier(data: bytes, transfer_syntax_uid: str, level: QueryLevel) -> QueryMatch:
    """Read a received identifier, e.g. a C-FIND match, as text (PS3.4 C.4.1.1.3).

    Text is decoded per Specific Character Set (PS3.5 6.1; undecodable bytes become
    U+FFFD); values are joined by a backslash, binary numbers written in decimal, empty
    attributes ``""``. Private, group-length, bulk and sequence elements are left out.
    pydicom's value validation is not used: its warnings would quote values into logs.

    ``data`` is the identifier as carried in P-DATA, in the presentation context's
    ``transfer_syntax_uid`` (as for :func:`pacslink.identifiers.encode_identifier`);
    ``level`` is the request's.
    QueryError is raised only if ``data`` is not a data set at all (truncated, no element).

    A little endian identifier of defined-length elements (what SCPs send) is read by
    :func:`_plain_elements`, about ten times faster than building a pydicom Dataset;
    anything else (undefined lengths, big endian, an unknown VR, a truncated element)
    is read by pydicom, with the same result.
    """
    implicit, little = transfer_syntax_encoding(transfer_syntax_uid)
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
            code = data[pos + 4 : pos + 6]
            vr = VR_TEXT.get(code)
            if vr is None:
                return None
            if code in LONG_LENGTH_VRS:
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
    if value.rstrip(b" ") in COMMON_CHARSETS:  # valid: no need to ask pydicom
        return _encodings_of_value(value)
    from pydicom.charset import convert_encodings, default_encoding
    from pydicom.values import multi_string

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # _encodings_of_value says it, once
            convert_encodings(multi_string(value.decode(default_encoding)))
    except Exception:  # noqa: BLE001 - what the reader raises, decode_identifier reports
        return None
    return _encodings_of_value(value)


def _decode_with_pydicom(data: bytes, implicit: bool, little: bool, level: QueryLevel) -> QueryMatch:
    from pydicom.dataelem import RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset

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


def transfer_syntax_encoding(transfer_syntax_uid: str) -> tuple[bool, bool]:
    """``(implicit VR, little endian)`` of a transfer syntax identifiers may use."""
    if transfer_syntax_uid not in _ENCODINGS:
        raise QueryError(f"transfer syntax {transfer_syntax_uid!r} is not used for identifiers; "
                         "use Implicit or Explicit VR Little Endian, or Explicit VR Big Endian")
    return _ENCODINGS[transfer_syntax_uid]


def _encodings_of(ds: Dataset) -> list[str]:
    """Python codecs for (0008,0005) Specific Character Set; the default when unusable."""
    from pydicom.dataelem import RawDataElement

    try:
        elem = ds.get_item(0x00080005)
    except Exception:  # noqa: BLE001 - an unusable character set falls back to the default
        elem = None
    return _encodings_of_value(elem.value if isinstance(elem, RawDataElement) else None)


def _encodings_of_value(value: bytes | None) -> list[str]:
    """Python codecs for the raw value of (0008,0005); the default when unusable."""
    common = COMMON_CHARSETS.get(bytes(value or b"").rstrip(b" "))
    if common is not None:
        return list(common)
    from pydicom.charset import convert_encodings

    try:
        text = bytes(value or b"").decode("latin-1")
        return convert_encodings([t.strip(" \x00") for t in text.split("\\")])
    except Exception:  # noqa: BLE001 - an unusable character set falls back to the default
        return ["iso8859"]


def _element_text(
    elem: DataElement | RawDataElement, encodings: list[str]
) -> tuple[str, str | None]:
    """``(keyword, text)`` of one element; text ``None`` for elements left out."""
    from pydicom.dataelem import RawDataElement

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
    is absent (implicit VR) or UN is looked up in the data dictionary
    (:mod:`pacslink.query_dictionary`, else pydicom's)."""
    known = BY_TAG.get(tag)
    if known is not None:
        keyword, dictionary_vr = known
        if keyword == "SpecificCharacterSet":
            return keyword, None
        return keyword, vr if vr not in (None, "UN") else dictionary_vr
    from pydicom.datadict import dictionary_VR, keyword_for_tag

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
            from pydicom.charset import decode_bytes

            return decode_bytes(raw, encodings, delimiters)
        return raw.decode(encodings[0], errors="replace")
    except Exception:  # noqa: BLE001 - undecodable: keep the bytes visible
        return raw.decode("latin-1")


__all__ = ["decode_identifier", "transfer_syntax_encoding"]
