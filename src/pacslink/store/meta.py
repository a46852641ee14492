"""The Part 10 header the store writes before each received data set (PS3.10 7.1).

``PREAMBLE`` (128 zero bytes and ``DICM``) is followed by the File Meta Information,
group 0002 in Explicit VR Little Endian with its group length, encoded by pydicom.
Its values come from the C-STORE command and the association, not from the data set,
and go in as given: UIDs such as ``../../x`` are only text here, never a path.
Value validation is switched off per element (not globally: pydicom's configuration is
process-wide) so odd but harmless values are written instead of refused.
"""

from __future__ import annotations

import struct

from pacslink import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from pacslink.errors import DatasetParseError
from pacslink.store.record import MAX_KEY_CHARS, clean_text

PREAMBLE = b"\x00" * 128 + b"DICM"

_AE_MAX = 16


def check_uid(name: str, value: str) -> str:
    """Return ``value`` without padding if it can be written as a UI value.

    Anything printable ASCII except the backslash (the value separator) is accepted;
    PS3.5 9.1 syntax is not enforced, so the file records what the peer sent.

    Raises
    ------
    DatasetParseError
        If the value is empty, longer than ``MAX_KEY_CHARS`` or not printable ASCII.
    """
    uid = clean_text(value)
    if not uid:
        raise DatasetParseError(f"{name} is empty")
    if len(uid) > MAX_KEY_CHARS:
        raise DatasetParseError(f"{name} is {len(uid)} characters long; not a UID")
    if not (uid.isascii() and uid.isprintable()) or "\\" in uid:  # printable: " " to "~"
        raise DatasetParseError(f"{name} {uid!r} holds characters a UID cannot hold")
    return uid


def sanitize_ae(value: str) -> str:
    """Return an AE title fit for (0002,0016): printable ASCII, no backslash, 16 chars."""
    text = "".join(ch if " " <= ch <= "~" and ch != "\\" else "?" for ch in value)
    return text.strip()[:_AE_MAX]


def file_meta_bytes(
    *, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str, calling_ae: str
) -> bytes:
    """Encode the File Meta Information group for one received instance.

    Parameters
    ----------
    sop_class_uid, sop_instance_uid : str
        Written as Media Storage SOP Class/Instance UID (0002,0002)/(0002,0003).
    transfer_syntax_uid : str
        (0002,0010): the transfer syntax the data set was received in.
    calling_ae : str
        (0002,0016) Source Application Entity Title; omitted when empty.

    Returns
    -------
    bytes
        Group 0002 including (0002,0000) group length, to follow :data:`PREAMBLE`.
    """
    elements: list[tuple[int, bytes, bytes]] = [
        (0x0001, b"OB", b"\x00\x01"),
        (0x0002, b"UI", _padded(sop_class_uid, b"\x00")),
        (0x0003, b"UI", _padded(sop_instance_uid, b"\x00")),
        (0x0010, b"UI", _padded(transfer_syntax_uid, b"\x00")),
        (0x0012, b"UI", _padded(IMPLEMENTATION_CLASS_UID, b"\x00")),
        (0x0013, b"SH", _padded(IMPLEMENTATION_VERSION_NAME, b" ")),
    ]
    if calling_ae:
        elements.append((0x0016, b"AE", _padded(calling_ae, b" ")))
    # Explicit VR Little Endian (PS3.10 7.1); OB has a 4-byte length (PS3.5 7.1.2).
    body = b"".join(
        struct.pack("<HH", 0x0002, element) + vr
        + (b"\x00\x00" + struct.pack("<L", len(value)) if vr == b"OB" else struct.pack("<H", len(value)))
        + value
        for element, vr, value in elements
    )
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(body)) + body


def _padded(value: str, pad: bytes) -> bytes:
    raw = value.encode("ascii", errors="replace")
    return raw + pad if len(raw) % 2 else raw


__all__ = ["PREAMBLE", "check_uid", "file_meta_bytes", "sanitize_ae"]
