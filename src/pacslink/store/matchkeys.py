"""The keys of a received Query/Retrieve identifier and their SQL conditions (PS3.4 C.2.2.2).

:func:`read_keys` reads the attributes of an identifier as text, decoded per its Specific
Character Set, without pydicom's value validation (its warnings quote values, and default
logs carry no patient data). :func:`condition` turns one key into a SQLAlchemy Core
condition on an index column; values always travel as bound parameters, never as SQL text.

Matching rules, by the key's value and VR:

``""`` or only ``*``
    Universal matching (PS3.4 C.2.2.2.3; C.2.2.2.4: ``*`` equals universal): no condition.
VR UI
    Single value, or list of UID matching for backslash-separated UIDs (C.2.2.2.2).
VR DA, TM, DT with a ``-``
    Range matching (C.2.2.2.5): ``A-B``, ``-B``, ``A-``, inclusive. A bound given with less
    precision than the stored value covers its whole unit (``-1100`` includes 11:00:30).
    Values compare as text in binary order, which is time order for DICOM's formats.
    Date and time keys match independently (no combined date-time matching, which needs
    extended negotiation), so a time range across midnight (``2300-0100``) matches none.
VR AE, CS, LO, LT, PN, SH, ST, UC, UR, UT with ``*`` or ``?``
    Wild card matching (C.2.2.2.4): ``*`` any run of characters, ``?`` one character;
    ``%``, ``_`` and the escape character in the data are literal.
otherwise
    Single value matching (C.2.2.2.1), case-sensitive, except PN.

PN values match case-insensitively, exactly or with wild cards (C.2.2.2.1 allows it for
PN), by the database's ``lower()`` on both sides: ASCII letters always, other letters where
the database's locale folds them (PostgreSQL with a UTF-8 locale; not SQLite).

Several backslash-separated values in a single-valued attribute (Modality ``CT\\MR``) match
an entity holding any of them; PS3.4 C.2.2.2.8 leaves their meaning undefined without
extended negotiation, and "any of" is what SCUs mean. Attributes with VM > 1 (Image Type)
match their whole stored value. Sequence matching (C.2.2.2.6) and empty value matching
(C.2.2.2.7) are not supported: sequence keys are ignored, ``""`` is matched literally.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

from pacslink.errors import QueryError
from pacslink.store.schema import Kind

#: VRs where ``*`` and ``?`` are wild cards (PS3.4 C.2.2.2.4).
WILDCARD_VRS: Final = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: VRs with range matching (PS3.4 C.2.2.2.5).
RANGE_VRS: Final = frozenset({"DA", "TM", "DT"})
#: Most values in one list (UID list matching, or ``\\``-separated alternatives).
MAX_VALUES: Final = 5000

_SINGLE_VALUED_VRS: Final = frozenset({"LT", "ST", "UT", "UR"})  # a backslash is text
_TEXT_DELIMITERS: Final = {"PN": {0x5C, 0x5E, 0x3D}, "LO": {0x5C}, "SH": {0x5C}, "UC": {0x5C},
                           "LT": set(), "ST": set(), "UT": set()}
_BINARY: Final = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q",
                  "FL": "f", "FD": "d"}
_NOT_KEYS: Final = {0x00080005, 0x00080052}  # Specific Character Set, Q/R Level: never matched
_ESCAPE: Final = "!"
_TOP_OF_UNIT: Final = "~"  # sorts after digits, '.', '+' and '-': ends an upper bound
_INT_LIMIT: Final = 2**63
_BOUND: Final = re.compile(r"[0-9][0-9.:+]*")  # DA, TM, DT (also ACR-NEMA 2024.01.31, 10:15)
#: Multi-valued attributes whose key values are alternatives (study-level summaries).
_ANY_OF: Final = frozenset({"ModalitiesInStudy", "SOPClassesInStudy"})


class IdentifierError(QueryError, ValueError):
    """A received identifier cannot be matched: wrong level, no unique key, bad value.

    A C-FIND, C-MOVE or C-GET SCP answers it with 0xA900 (Identifier does not match SOP
    Class) or 0xC000 (Unable to process), PS3.4 C.4.1.1.4, C.4.2.1.5. Messages name the
    attribute, never its value (patient data stays out of logs).
    """


@dataclass(frozen=True)
class Key:
    """One attribute of an identifier: a matching key, or a return key when ``value`` is "".

    Parameters
    ----------
    tag : int
        The attribute's tag.
    keyword : str
        Its DICOM keyword; ``""`` for private or unknown tags.
    vr : str
        Its VR (from the data dictionary when the identifier had none, or ``UN``).
    value : str
        The value as text, padding removed, multiple values joined by ``\\``.
    """

    tag: int
    keyword: str
    vr: str
    value: str

    @property
    def values(self) -> list[str]:
        """The values of :attr:`value`: one for single-valued VRs, else split on ``\\``."""
        return [self.value] if self.vr in _SINGLE_VALUED_VRS else self.value.split("\\")


def dictionary_vr(tag: int, default: str = "UN") -> str:
    """Return the data dictionary's VR of ``tag`` (the first of ``US or SS``)."""
    try:
        return str(dictionary_VR(tag)).split(" ")[0]
    except KeyError:
        return default


def read_keys(identifier: Dataset) -> list[Key]:
    """Return the keys of ``identifier``, in tag order (PS3.4 C.4.1.1.3.1).

    Specific Character Set (0008,0005) and Query/Retrieve Level (0008,0052) are not keys;
    nor are group lengths, command or file meta elements. Raw (undecoded) elements are
    decoded here; values of sequences are ``""``.
    """
    encodings = _encodings(identifier)
    keys: list[Key] = []
    for raw_tag in identifier.keys():  # noqa: SIM118 - iterating would convert values
        tag: BaseTag = Tag(raw_tag)
        if int(tag) in _NOT_KEYS or tag.element == 0 or tag.group in (0, 2, 0xFFFE):
            continue
        elem = identifier.get_item(tag)
        vr = elem.VR if elem.VR and elem.VR != "UN" else dictionary_vr(tag, elem.VR or "UN")
        try:
            value = "" if vr == "SQ" else _clean(_text(elem, vr, encodings), vr)
        except Exception as exc:  # pydicom raises many types on malformed values
            name = keyword_for_tag(tag) or f"({tag.group:04X},{tag.element:04X})"
            raise IdentifierError(f"{name} in the identifier cannot be decoded") from exc
        keys.append(Key(int(tag), keyword_for_tag(tag) or "", vr, value))
    return keys


def _encodings(ds: Dataset) -> list[str]:
    """Python codecs for the identifier's Specific Character Set; the default if unusable."""
    try:
        elem = ds.get_item(0x00080005)
        value = None if elem is None else elem.value
        if isinstance(value, bytes):
            terms = [t.strip(" \x00") for t in value.decode("latin-1").split("\\")]
        elif isinstance(value, str):
            terms = [value]
        else:
            terms = [str(v) for v in value or ()]
        return list(convert_encodings(terms or None))
    except Exception:  # noqa: BLE001 - an unusable character set falls back to the default
        return ["iso8859"]


def _text(elem: DataElement | RawDataElement, vr: str, encodings: list[str]) -> str:
    value = elem.value
    if isinstance(elem, RawDataElement):
        raw = bytes(value or b"")
        if vr in _BINARY:
            size = struct.calcsize(_BINARY[vr])
            order = "<" if elem.is_little_endian else ">"
            numbers = struct.unpack(f"{order}{len(raw) // size}{_BINARY[vr]}",
                                    raw[: len(raw) // size * size])
            return "\\".join(str(n) for n in numbers)
        if vr in _TEXT_DELIMITERS and b"\x1b" in raw:  # ISO 2022 code extensions
            return str(decode_bytes(raw, encodings, _TEXT_DELIMITERS[vr]))
        if vr in _TEXT_DELIMITERS:
            return raw.decode(encodings[0], errors="replace")
        return raw.decode("latin-1")
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join("" if v is None else str(v) for v in value)
    return str(value)


def _clean(text: str, vr: str) -> str:
    text = text.replace("\x00", "")
    if vr in _SINGLE_VALUED_VRS:
        return text.rstrip(" ")
    parts = [part.strip(" ") for part in text.split("\\")]
    return "\\".join(parts) if any(parts) else ""


def binary(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """``column`` compared and sorted in binary (code point) order on every backend."""
    return column.collate("C") if dialect == "postgresql" else column


def condition(
    column: sa.ColumnElement[Any], key: Key, *, dialect: str, kind: Kind = Kind.TEXT
) -> sa.ColumnElement[bool] | None:
    """Return the condition ``key`` puts on ``column``, or ``None`` for universal matching.

    Parameters
    ----------
    column : ColumnElement
        The index column (or an expression) holding the attribute.
    key : Key
        The identifier's key; its VR chooses the matching rule (module docstring).
    dialect : str
        ``sqlite`` or ``postgresql``: SQLite's LIKE ignores case, so case-sensitive wild
        card matching uses GLOB there.
    kind : Kind
        How the column stores values; numbers match by value (PS3.4 C.2.2.2.1).

    Raises
    ------
    IdentifierError
        For a malformed range, a number that is not one, or too many values.
    """
    value = key.value
    if not value or set(value) == {"*"}:
        return None
    alternatives = [v for v in _alternatives(key) if v] or [""]
    if len(alternatives) > MAX_VALUES:
        raise IdentifierError(f"{key.keyword or 'a key'} lists more than {MAX_VALUES} values")
    if kind is not Kind.TEXT:
        numbers = [_number(v, key, kind) for v in alternatives]
        return column == numbers[0] if len(numbers) == 1 else column.in_(numbers)
    if key.vr == "UI":
        return column == alternatives[0] if len(alternatives) == 1 else column.in_(alternatives)
    parts = [_one(column, key, v, dialect) for v in alternatives]
    if any(part is None for part in parts):
        return None
    conditions = [part for part in parts if part is not None]
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def _alternatives(key: Key) -> list[str]:
    """The alternatives of a key: its values, unless the attribute itself has VM > 1."""
    if not key.keyword or key.vr == "UI":
        return key.values
    try:
        multi_valued = str(dictionary_VM(key.tag)) != "1"
    except KeyError:
        multi_valued = False
    return [key.value] if multi_valued and key.keyword not in _ANY_OF else key.values


def _number(text: str, key: Key, kind: Kind) -> int | float:
    try:
        number: int | float = int(text) if kind is Kind.INT else float(text)
    except ValueError:
        raise IdentifierError(
            f"{key.keyword} must be a number (PS3.5 6.2 {key.vr}); wild cards and ranges "
            "do not apply to it (PS3.4 C.2.2.2.4)"
        ) from None
    if not -_INT_LIMIT < number < _INT_LIMIT:
        raise IdentifierError(f"{key.keyword} is out of range")
    return number


def _one(
    column: sa.ColumnElement[Any], key: Key, value: str, dialect: str
) -> sa.ColumnElement[bool] | None:
    """The condition of one value of a text key; ``None`` for universal matching."""
    if key.vr in RANGE_VRS and "-" in value:
        return _range(column, key, value, dialect)
    if key.vr in WILDCARD_VRS and ("*" in value or "?" in value):
        if set(value) == {"*"}:
            return None  # also matches entities without a value
        if key.vr == "PN" or dialect != "sqlite":
            pattern = like_pattern(value)
            if key.vr == "PN":
                return sa.func.lower(column).like(sa.func.lower(pattern), escape=_ESCAPE)
            return column.like(pattern, escape=_ESCAPE)
        # SQLite's LIKE ignores ASCII case; GLOB does not, and only '[' needs escaping.
        return column.op("GLOB", is_comparison=True)(value.replace("[", "[[]"))
    if key.vr == "PN":
        return sa.func.lower(column) == sa.func.lower(sa.literal(value, sa.Text()))
    return column == value


def like_pattern(value: str) -> str:
    """Translate a DICOM wild card value into a LIKE pattern with ``!`` as escape.

    >>> like_pattern("100%_do*e?")
    '100!%!_do%e_'
    """
    escaped = value.replace(_ESCAPE, _ESCAPE * 2).replace("%", "!%").replace("_", "!_")
    return escaped.replace("*", "%").replace("?", "_")


def _range(
    column: sa.ColumnElement[Any], key: Key, value: str, dialect: str
) -> sa.ColumnElement[bool] | None:
    lower, _, upper = value.partition("-")
    if not all(_BOUND.fullmatch(bound) for bound in (lower, upper) if bound):
        raise IdentifierError(f"{key.keyword} holds a malformed range: use A-B, -B or A- "
                              f"with {key.vr} values (PS3.4 C.2.2.2.5)")
    text = binary(column, dialect)
    bounds: list[sa.ColumnElement[bool]] = []
    if lower:
        bounds.append(text >= lower)
    if upper:
        bounds.append(text <= upper + _TOP_OF_UNIT)
    if not bounds:
        return None
    return bounds[0] if len(bounds) == 1 else sa.and_(*bounds)


def chunks(values: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    """Yield ``values`` in lists of at most ``size`` (bound parameter limits)."""
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "MAX_VALUES",
    "RANGE_VRS",
    "WILDCARD_VRS",
    "IdentifierError",
    "Key",
    "binary",
    "chunks",
    "condition",
    "dictionary_vr",
    "like_pattern",
    "read_keys",
]
