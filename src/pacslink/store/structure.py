"""Is a received data set complete? A walk over its element structure (PS3.5 7.1, 7.5).

The header parse stops before Pixel Data, so a data set cut short inside its pixels
would otherwise be stored and answered with success. This walk reads only element
headers and seeks over values: every element, item and delimiter must fit exactly
into the bytes received. Cost: a few microseconds per element, no value is loaded.

It also counts how deep sequences nest, undefined-length or not (a defined-length value
of VR SQ or UN, or of unknown VR in Implicit VR, that starts with an item tag is walked
as a sequence, as pydicom would read it), and refuses more than
:data:`MAX_SEQUENCE_DEPTH`: 10,000 nested sequences would otherwise crash a recursive
reader. Inside a defined-length value nothing else is judged: one that does not walk as
a sequence is taken whole. Items of encapsulated pixel data are fragments, never walked.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

from pacslink.errors import DatasetParseError
from pacslink.vr import LONG_LENGTH_VRS
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xE000, 0xE00D, 0xE0DD
_PIXEL_DATA = (0x7FE0, 0x0010)

#: The deepest nesting of sequences accepted (PS3.5 7.5 sets no limit; real objects,
#: structured reports included, stay far below). Deeper ones are refused before a
#: recursive reader (pydicom, a viewer) could run out of stack on them.
MAX_SEQUENCE_DEPTH = 32
#: The refusal of a data set whose sequences nest deeper than :data:`MAX_SEQUENCE_DEPTH`.
TOO_DEEP = f"data set nests sequences more than {MAX_SEQUENCE_DEPTH} deep; refused"


class _Refused(DatasetParseError):
    """Refusals that lenient regions pass on: too deep, or too many elements."""


class _Walker:
    """Walks elements; ``limit`` is the end of the current region (``None``: the stream's
    end, known only on reaching it, via ``stream_at_end``)."""

    def __init__(self, fp: BinaryIO, limit: int | None, implicit: bool, little: bool,
                 stream_at_end: Callable[[], bool] | None = None) -> None:
        self.fp = fp
        self.limit = limit
        self.implicit = implicit
        self.order = "<" if little else ">"
        self.item_tag = struct.pack(self.order + "HH", 0xFFFE, _ITEM)
        self._tag_length = struct.Struct(self.order + "HHL")
        self._tag_vr_length = struct.Struct(self.order + "HH2sH")
        self._length = struct.Struct(self.order + "L")
        self.stream_at_end = stream_at_end
        self.fragments = False  # items of encapsulated pixel data, not data sets
        self.budget: int | None = None  # elements left to walk, if bounded

    def at_end(self) -> bool:
        if self.limit is None:
            assert self.stream_at_end is not None
            return self.stream_at_end()
        return self.fp.tell() >= self.limit

    def _read(self, size: int) -> bytes:
        data = self.fp.read(size)
        if len(data) != size:
            raise DatasetParseError("data set is truncated: it ends inside an element header")
        return data

    def _skip(self, length: int, tag: tuple[int, int]) -> None:
        pos = self.fp.tell()
        if self.limit is not None and length > self.limit - pos:
            raise DatasetParseError(
                f"data set is truncated: element ({tag[0]:04X},{tag[1]:04X}) needs {length} "
                f"bytes, {self.limit - pos} left")
        self.fp.seek(length, os.SEEK_CUR)

    def element(self, depth: int) -> tuple[int, int]:
        """Walk one element (or delimiter) found ``depth`` sequences deep; return its tag."""
        if self.budget is not None:
            if self.budget <= 0:
                raise _Refused("data set holds more elements than its size allows; refused")
            self.budget -= 1
        head = self._read(8)  # every element header, item and delimiter has 8 bytes or more
        group, elem, length = self._tag_length.unpack(head)
        vr = b""
        if group == 0xFFFE:  # item / delimiters: always a 4-byte length, no VR
            if elem == _ITEM:
                self._item(length, depth)
            return group, elem
        if not self.implicit:
            group, elem, vr, length = self._tag_vr_length.unpack(head)
            if vr in LONG_LENGTH_VRS:
                (length,) = self._length.unpack(self._read(4))
        if length == _UNDEFINED:
            if vr == b"SQ" or (vr == b"" and (group, elem) != _PIXEL_DATA):
                self._until(_SEQUENCE_END, depth + 1)
            elif vr == b"UN":  # a sequence in Implicit VR Little Endian (PS3.5 6.2.2)
                self._nested(self._until, _SEQUENCE_END, depth + 1, implicit=True)
            else:  # encapsulated pixel data (PS3.5 A.4): items are fragments, not data sets
                self._nested(self._until, _SEQUENCE_END, depth + 1, fragments=True)
        elif vr in (b"SQ", b"UN", b"") and length >= 8 and self._items_follow():
            self._nested(self._region, length, depth + 1, (group, elem), items=True,
                         implicit=self.implicit or vr == b"UN")
        else:
            self._skip(length, (group, elem))
        return group, elem

    def _nested(self, walk: Callable[..., None], *args: Any, implicit: bool | None = None,
                fragments: bool = False, **kwargs: Any) -> None:
        """Run ``walk`` with another encoding or item kind, then restore them."""
        saved = self.implicit, self.fragments
        self.implicit = self.implicit if implicit is None else implicit
        self.fragments = fragments
        try:
            walk(*args, **kwargs)
        finally:
            self.implicit, self.fragments = saved

    def _items_follow(self) -> bool:
        """Whether the value starts with an item tag (how pydicom spots a sequence)."""
        first = self.fp.read(4)
        self.fp.seek(-len(first), os.SEEK_CUR)
        return first == self.item_tag

    def _item(self, length: int, depth: int) -> None:
        if length == _UNDEFINED:
            self._until(_ITEM_END, depth)
        elif self.fragments:
            self._skip(length, (0xFFFE, _ITEM))
        else:
            self._region(length, depth, (0xFFFE, _ITEM), items=False)

    def _region(self, length: int, depth: int, tag: tuple[int, int], *, items: bool) -> None:
        """A value of defined length: it must fit; inside, nesting is counted.

        Inside, anything else that does not walk is tolerated (the value is taken whole,
        as pydicom would skip it); only nesting deeper than the limit is refused.
        """
        start = self.fp.tell()
        self._skip(length, tag)  # it fits where it is
        end = start + length
        if depth > MAX_SEQUENCE_DEPTH:
            raise _Refused(TOO_DEEP)
        outer, self.limit = self.limit, end
        self.fp.seek(start)
        try:
            while self.fp.tell() < end:
                group, elem = self.element(depth)
                if items and (group, elem) != (0xFFFE, _ITEM):
                    break  # not a sequence after all
                if not items and group == 0xFFFE:
                    break  # a stray delimiter: not ours to judge inside a defined length
        except _Refused:
            raise
        except DatasetParseError:
            pass
        finally:
            self.limit = outer
        self.fp.seek(end)

    def _until(self, delimiter: int, depth: int) -> None:
        if depth > MAX_SEQUENCE_DEPTH:
            raise _Refused(TOO_DEEP)
        while True:
            if self.at_end():
                raise DatasetParseError("data set is truncated: a sequence or item is not closed")
            group, elem = self.element(depth)
            if group == 0xFFFE and elem == delimiter:
                return


def check_structure(fp: BinaryIO, start: int, end: int, implicit: bool, little: bool) -> None:
    """Raise :class:`DatasetParseError` unless ``fp[start:end]`` is whole elements exactly.

    Parameters
    ----------
    fp : binary file
        The received file.
    start, end : int
        Offsets of the data set's first byte and one past its last.
    implicit, little : bool
        The transfer syntax's encoding (not Deflated: that stream is checked by zlib).
    """
    walker = _Walker(fp, end, implicit, little)
    fp.seek(start)
    while fp.tell() < end:
        group, elem = walker.element(0)
        if group == 0xFFFE:
            raise DatasetParseError(f"data set holds a stray delimiter (FFFE,{elem:04X})")
    if fp.tell() != end:  # pragma: no cover - _skip prevents it
        raise DatasetParseError("data set is truncated")


def check_rest(fp: BinaryIO, at_end: Callable[[], bool], implicit: bool, little: bool,
               *, max_elements: int) -> None:
    """Like :func:`check_structure`, from ``fp``'s position to an end known only on reaching it.

    For a stream such as an inflating reader (Deflated Explicit VR Little Endian, PS3.5
    A.5), positioned at the start of a top-level element. ``at_end()`` says whether the
    position is the end of the data; it raises :class:`DatasetParseError` when a skip went
    past it. At most ``max_elements`` elements (items and delimiters included) are
    walked: a few bytes of deflate can stand for millions of empty elements.
    """
    walker = _Walker(fp, None, implicit, little, at_end)
    walker.budget = max_elements
    while not at_end():
        group, elem = walker.element(0)
        if group == 0xFFFE:
            raise DatasetParseError(f"data set holds a stray delimiter (FFFE,{elem:04X})")
