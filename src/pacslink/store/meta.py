"""The Part 10 header the store writes before each received data set (PS3.10 7.1).

``PREAMBLE`` (128 zero bytes and ``DICM``) is followed by the File Meta Information,
group 0002 in Explicit VR Little Endian with its group length, encoded by pydicom.
Its values come from the C-STORE command and the association, not from the data set,
and go in as given: UIDs such as ``../../x`` are only text here, never a path.
Value validation is switched off per element (not globally: pydicom's configuration is
process-wide) so odd but harmless values are written instead of refused.
"""

from __future__ import annotations

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info

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
    if not all(" " <= ch <= "~" and ch != "\\" for ch in uid):
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
    file_meta = FileMetaDataset()
    elements: list[tuple[int, str, object]] = [
        (0x00020001, "OB", b"\x00\x01"),
        (0x00020002, "UI", sop_class_uid),
        (0x00020003, "UI", sop_instance_uid),
        (0x00020010, "UI", transfer_syntax_uid),
        (0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
        (0x00020013, "SH", IMPLEMENTATION_VERSION_NAME),
    ]
    if calling_ae:
        elements.append((0x00020016, "AE", calling_ae))
    for tag, vr, value in elements:
        file_meta.add(DataElement(tag, vr, value, validation_mode=config.IGNORE))
    buffer = DicomBytesIO()
    write_file_meta_info(buffer, file_meta, enforce_standard=True)
    return bytes(buffer.getvalue())


__all__ = ["PREAMBLE", "check_uid", "file_meta_bytes", "sanitize_ae"]
