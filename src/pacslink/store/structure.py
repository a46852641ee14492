"""Is a received data set complete? A walk over its element structure (PS3.5 7.1, 7.5).

The header parse stops before Pixel Data, so a data set cut short inside its pixels
would otherwise be stored and answered with success. This walk reads only element
headers and seeks over values: every element, item and delimiter must fit exactly
into the bytes received. Cost: a few microseconds per element, no value is loaded.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from pacslink.errors import DatasetParseError

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xE000, 0xE00D, 0xE0DD
_MAX_DEPTH = 32


class _Walker:
    def __init__(self, fp: BinaryIO, end: int, implicit: bool, little: bool) -> None:
        self.fp = fp
        self.end = end
        self.implicit = implicit
        self.order = "<" if little else ">"

    def _read(self, size: int) -> bytes:
        data = self.fp.read(size)
        if len(data) != size:
            raise DatasetParseError("data set is truncated: it ends inside an element header")
        return data

    def _skip(self, length: int, tag: tuple[int, int]) -> None:
        pos = self.fp.tell()
        if length > self.end - pos:
            raise DatasetParseError(
                f"data set is truncated: element ({tag[0]:04X},{tag[1]:04X}) needs {length} "
                f"bytes, {self.end - pos} left")
        self.fp.seek(length, os.SEEK_CUR)

    def element(self, depth: int) -> tuple[int, int]:
        """Walk one element (or delimiter); returns its tag."""
        group, elem = struct.unpack(self.order + "HH", self._read(4))
        if group == 0xFFFE:  # item / delimiters: always a 4-byte length, no VR
            (length,) = struct.unpack(self.order + "L", self._read(4))
            return group, elem if elem != _ITEM else self._item(length, depth)
        if self.implicit:
            (length,) = struct.unpack(self.order + "L", self._read(4))
            vr = b"SQ" if length == _UNDEFINED else b""
        else:
            vr = self._read(2)
            if vr in _LONG_VRS:
                self._read(2)
                (length,) = struct.unpack(self.order + "L", self._read(4))
            else:
                (length,) = struct.unpack(self.order + "H", self._read(2))
        if length == _UNDEFINED:
            self._until(_SEQUENCE_END, depth + 1)
        else:
            self._skip(length, (group, elem))
        return group, elem

    def _item(self, length: int, depth: int) -> int:
        if length == _UNDEFINED:
            self._until(_ITEM_END, depth + 1)
        else:
            self._skip(length, (0xFFFE, _ITEM))
        return _ITEM

    def _until(self, delimiter: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise DatasetParseError("data set nests sequences too deeply")
        while True:
            if self.fp.tell() >= self.end:
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
