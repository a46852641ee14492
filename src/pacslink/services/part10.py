"""Reading just enough of a DICOM Part 10 file to send it (PS3.10 7.1).

Sending streams the data set bytes straight from disk, so all we need is the File Meta
Information: the SOP Class and Instance UIDs, the transfer syntax and where the data set
starts. Group 0002 is always Explicit VR Little Endian (PS3.10 7.1), a handful of
elements, so it is read here without building a pydicom Dataset for every file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from pacslink.vr import LONG_LENGTH_VRS

_WANTED = {0x0002: "sop_class_uid", 0x0003: "sop_instance_uid", 0x0010: "transfer_syntax_uid"}


class NotPart10Error(ValueError):
    """The file is not a DICOM Part 10 file we can send."""


@dataclass(frozen=True)
class Part10Info:
    """What ``pacslink send`` needs to know about one file."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    dataset_offset: int
    dataset_length: int


def read_part10_info(path: Path) -> Part10Info:
    """Read the File Meta Information of ``path``.

    Raises
    ------
    NotPart10Error
        No ``DICM`` prefix, a truncated or malformed group 0002, or a required UID
        missing; the message says which.
    OSError
        The file cannot be opened or read.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(132)
        if len(head) < 132:
            raise NotPart10Error("not a DICOM file (too short)")
        if head[128:132] != b"DICM":
            raise NotPart10Error("not a DICOM Part 10 file (no 'DICM' after the 128-byte preamble)")
        values: dict[str, str] = {}
        pos = 132
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            group, element = struct.unpack("<HH", header[:4])
            if group != 0x0002:
                break
            vr = header[4:6]
            if vr in LONG_LENGTH_VRS:
                extra = f.read(4)
                if len(extra) < 4:
                    raise NotPart10Error("file meta information is truncated")
                (length,) = struct.unpack("<L", extra)
                header_len = 12
            elif vr.isalpha() and vr.isupper():
                (length,) = struct.unpack("<H", header[6:8])
                header_len = 8
            else:
                raise NotPart10Error(f"file meta element (0002,{element:04X}) is not explicit VR")
            if length > 1 << 20:
                raise NotPart10Error(f"file meta element (0002,{element:04X}) is {length} bytes long")
            value = f.read(length)
            if len(value) < length:
                raise NotPart10Error("file meta information is truncated")
            if element in _WANTED:
                values[_WANTED[element]] = value.rstrip(b"\x00 ").decode("ascii", errors="replace")
            pos += header_len + length
    missing = [name for name in _WANTED.values() if not values.get(name)]
    if missing:
        raise NotPart10Error("file meta information lacks " + ", ".join(missing))
    return Part10Info(
        path=path,
        sop_class_uid=values["sop_class_uid"],
        sop_instance_uid=values["sop_instance_uid"],
        transfer_syntax_uid=values["transfer_syntax_uid"],
        dataset_offset=pos,
        dataset_length=size - pos,
    )
