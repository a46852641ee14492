"""One quick pass over a received data set: is it whole, and what does the index need?

This is the Storage SCP's fast path for the data sets modalities send every day; it does
in one walk what :func:`~pacslink.store.parse.parse_header` (pydicom) and
:func:`~pacslink.store.structure.check_structure` do in two, mostly from the first bytes
of the data set kept in memory while it was received, reading element headers past them
from the file only when the data set is larger (PS3.5 7.1: tag, VR, length, value).

It handles the well-formed case only and answers ``None`` whenever anything is unusual
(an unknown VR, a value of undefined length among the indexed attributes that is not a
sequence, a stray delimiter, a truncated element, no SOP UIDs, a header pydicom would
read as the other VR encoding...). The caller then runs the pydicom parser and the
structure check, which refuse bad data with their own messages: the fast path never
accepts a data set the slow path would refuse for its structure, and never decides an
error message.

What it returns is the raw value of every top-level element of
:data:`~pacslink.store.schema.ATTRIBUTES` (and Specific Character Set) met before the
parse stop of :func:`~pacslink.store.parse.parse_header`: the first tag past
:data:`~pacslink.store.schema.LAST_TAG` or out of ascending order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from pydicom.datadict import dictionary_VR

from pacslink.store.parse import HEADER_READ_BYTES
from pacslink.store.record import MAX_VALUE_BYTES
from pacslink.store.schema import ATTRIBUTES, LAST_TAG
from pacslink.store.structure import MAX_SEQUENCE_DEPTH
from pacslink.vr import LONG_LENGTH_VRS, SHORT_LENGTH_VRS, VR_TEXT

#: Raw values by tag: ``(VR or None for implicit VR, value bytes or None if too long)``.
RawValues = dict[int, tuple[str | None, bytes | None]]

#: Reads ``n`` bytes at an offset of the data set; shorter at its end.
ReadAt = Callable[[int, int], bytes]

_WANTED = frozenset(a.tag for a in ATTRIBUTES) | {0x00080005}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


class _Unusual(Exception):
    """Not the common case: let the full parser and structure check decide."""


def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


class _Walker:
    def __init__(self, head: bytes | bytearray, read_at: ReadAt, end: int, implicit: bool,
                 little: bool) -> None:
        self.head = head
        self.read_at = read_at
        self.end = end
        self.implicit = implicit
        order = "<" if little else ">"
        self.tag_length = struct.Struct(order + "HHL").unpack_from
        self.tag_vr_short = struct.Struct(order + "HH2sH").unpack_from
        self.long_length = struct.Struct(order + "L").unpack_from

    def get(self, pos: int, size: int) -> bytes | bytearray:
        if pos + size > self.end:
            raise _Unusual
        if pos + size <= len(self.head):
            return self.head[pos : pos + size]
        data = self.read_at(pos, size)
        if len(data) != size:
            raise _Unusual
        return data

    def header(self, pos: int) -> tuple[int, str | None, int, int]:
        """``(tag, VR or None, length, position of the value)`` of the element at ``pos``."""
        raw = self.get(pos, 8)
        if self.implicit:
            group, elem, length = self.tag_length(raw)
            tag = group << 16 | elem
            return tag, None, length, pos + 8
        group, elem, vr, length = self.tag_vr_short(raw)
        tag = group << 16 | elem
        if group == 0xFFFE:  # items and delimiters: a 4-byte length, no VR
            group, elem, length = self.tag_length(raw)
            return tag, None, length, pos + 8
        if vr in LONG_LENGTH_VRS:
            (length,) = self.long_length(self.get(pos + 8, 4))
            return tag, VR_TEXT[vr], length, pos + 12
        if vr not in SHORT_LENGTH_VRS:
            raise _Unusual
        return tag, VR_TEXT[vr], length, pos + 8

    def skip_nested(self, pos: int, delimiter: int, depth: int) -> int:
        """Walk elements from ``pos`` to past ``delimiter``; return the end position.

        ``depth`` counts the sequences around ``pos``; deeper than
        :data:`~.structure.MAX_SEQUENCE_DEPTH` is unusual, so the structure check decides
        (and refuses) such a data set.
        """
        if depth > MAX_SEQUENCE_DEPTH:
            raise _Unusual
        while True:
            tag, vr, length, pos = self.header(pos)
            if tag == delimiter:
                return pos
            pos = self.nested_element(tag, vr, length, pos, depth)

    def nested_element(self, tag: int, vr: str | None, length: int, pos: int,
                       depth: int) -> int:
        """Walk one element inside a sequence (an item, or an element of an item)."""
        if tag == _ITEM:
            if length == _UNDEFINED:
                return self.skip_nested(pos, _ITEM_END, depth)
            end = self.skip(pos, length)
            return self.walk_defined(pos, end, depth, sequence=False)
        if tag >> 16 == 0xFFFE:
            raise _Unusual
        if length == _UNDEFINED:
            return self.skip_nested(pos, _SEQUENCE_END, depth + 1)
        end = self.skip(pos, length)
        if vr == "SQ" or (vr is None and _is_sequence(tag)):
            return self.walk_defined(pos, end, depth + 1, sequence=True)
        return end

    def walk_defined(self, pos: int, end: int, depth: int, *, sequence: bool) -> int:
        """Walk a defined-length sequence value (items only) or item value up to ``end``.

        Sequences nest the same whether their lengths are defined or not (PS3.5 7.5), so
        defined lengths are walked too, not skipped.
        """
        if depth > MAX_SEQUENCE_DEPTH:
            raise _Unusual
        while pos < end:
            tag, vr, length, pos = self.header(pos)
            if (tag == _ITEM) != sequence or (not sequence and tag >> 16 == 0xFFFE):
                raise _Unusual
            pos = self.nested_element(tag, vr, length, pos, depth)
        if pos != end:
            raise _Unusual
        return end

    def skip(self, pos: int, length: int) -> int:
        if length > self.end - pos:
            raise _Unusual
        return pos + length


def scan(head: bytes | bytearray, read_at: ReadAt, size: int, implicit: bool,
         little: bool) -> RawValues | None:
    """Walk a received data set; return the indexed attributes' raw values, or ``None``.

    Parameters
    ----------
    head : bytes or bytearray
        The first bytes of the data set (all of it when it is small).
    read_at : callable
        ``read_at(offset, n)`` reads the data set beyond ``head`` (from the file).
    size : int
        The data set's length in bytes.
    implicit, little : bool
        Its encoding (not Deflated, whose stream this does not read).

    Returns
    -------
    dict or None
        Raw values by tag, when the data set is whole elements exactly and nothing about
        it is unusual; ``None`` when the full parser and structure check must decide.
    """
    walker = _Walker(head, read_at, size, implicit, little)
    found: RawValues = {}
    try:
        if size >= 8:
            first = walker.get(0, 8)
            looks_explicit = 0x40 < first[4] < 0x5B and 0x40 < first[5] < 0x5B
            if looks_explicit == implicit:  # pydicom would switch encodings: let it
                return None
        pos, previous, collecting = 0, -1, True
        while pos < size:
            tag, vr, length, pos = walker.header(pos)
            if tag >> 16 == 0xFFFE:
                return None  # a stray item or delimiter
            if collecting and (tag > LAST_TAG or tag <= previous):
                collecting = False
            if length == _UNDEFINED:
                start = pos
                if collecting and not (vr == "SQ" or (vr is None and _is_sequence(tag))):
                    return None  # pydicom reads such a value whole: let it
                pos = walker.skip_nested(pos, _SEQUENCE_END, 1)
                if collecting and pos - start > HEADER_READ_BYTES:
                    return None  # pydicom would read it whole, past its bound
            elif vr == "SQ" or (vr is None and _is_sequence(tag)):
                pos = walker.walk_defined(pos, walker.skip(pos, length), 1, sequence=True)
            else:
                if collecting and tag in _WANTED:
                    if length > walker.end - pos:
                        return None
                    value = walker.get(pos, length) if length <= MAX_VALUE_BYTES else None
                    if value is None and tag == 0x00080005:
                        return None
                    found[tag] = (vr, None if value is None else bytes(value))
                pos = walker.skip(pos, length)
            if collecting:
                previous = tag
    except _Unusual:
        return None
    if 0x00080016 not in found and 0x00080018 not in found:
        return None
    return found


__all__ = ["RawValues", "ReadAt", "scan"]
