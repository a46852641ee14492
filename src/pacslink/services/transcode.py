"""Re-encoding a data set for a peer that does not accept the file's transfer syntax.

Only used when the peer refused the file's own syntax: pydicom reads the file,
decompresses pixel data with pylibjpeg when needed, and writes the data set (without
file meta) in the accepted uncompressed syntax (PS3.5 A.1-A.3).
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

_UNCOMPRESSED = {
    "1.2.840.10008.1.2": (True, True),  # implicit VR, little endian
    "1.2.840.10008.1.2.1": (False, True),
    "1.2.840.10008.1.2.2": (False, False),
}


def encode_dataset_as(path: Path, transfer_syntax_uid: str) -> bytes:
    """Return the data set of ``path`` encoded in an uncompressed ``transfer_syntax_uid``.

    Raises
    ------
    ValueError
        ``transfer_syntax_uid`` is not an uncompressed syntax.
    Exception
        Whatever pydicom or the pixel-data decoders raise for a file they cannot decode.
    """
    if transfer_syntax_uid not in _UNCOMPRESSED:
        raise ValueError(f"cannot encode into {transfer_syntax_uid}")
    implicit, little = _UNCOMPRESSED[transfer_syntax_uid]
    ds = pydicom.dcmread(path)
    if UID(ds.file_meta.TransferSyntaxUID).is_compressed:
        # keep the SOP Instance UID: the peer must receive the same instance
        ds.decompress(generate_instance_uid=False)
    buf = DicomBytesIO()
    buf.is_implicit_VR = implicit
    buf.is_little_endian = little
    write_dataset(buf, ds)
    return buf.getvalue()
