"""Small DICOM data sets for tests, generated with pydicom (no binary fixtures).

``make_ct`` builds a tiny CT Image Storage data set; ``make_dataset_bytes`` encodes a data
set the way it travels in P-DATA (no preamble, no file meta) in a given transfer syntax;
``make_part10_bytes`` adds the preamble and file meta for tests that need files.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"

_counter = itertools.count(1)


def make_ct(
    *,
    patient_id: str = "PAT001",
    patient_name: str = "Doe^Jane",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    sop_class_uid: str = CT_IMAGE_STORAGE,
    instance_number: int | None = None,
    series_number: int = 1,
    modality: str = "CT",
    rows: int = 8,
    columns: int = 8,
    pixel_data: bool = True,
    **extra: Any,
) -> Dataset:
    """Return a small but complete CT Image Storage data set.

    Parameters
    ----------
    patient_id, patient_name : str
        Patient ID and Name.
    study_instance_uid, series_instance_uid, sop_instance_uid : str, optional
        Generated when omitted.
    sop_class_uid : str
        Defaults to CT Image Storage.
    instance_number : int, optional
        Defaults to a process-wide counter.
    series_number : int
        Series Number.
    modality : str
        Modality.
    rows, columns : int
        Image size; Pixel Data is ``rows * columns`` 16-bit samples.
    pixel_data : bool
        Include Pixel Data.
    **extra
        Further attributes by keyword, set last (``None`` deletes an attribute).
    """
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.StudyDate = "20240131"
    ds.SeriesDate = "20240131"
    ds.AcquisitionDate = "20240131"
    ds.ContentDate = "20240131"
    ds.StudyTime = "101500"
    ds.SeriesTime = "101600"
    ds.AcquisitionTime = "101601.5"
    ds.ContentTime = "101602"
    ds.AccessionNumber = "ACC42"
    ds.Modality = modality
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.StudyDescription = "CT HEAD"
    ds.SeriesDescription = "AXIAL 5mm"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.PatientWeight = "61.5"
    ds.BodyPartExamined = "HEAD"
    ds.ProtocolName = "HEAD ROUTINE"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.StudyID = "S1"
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 3
    ds.InstanceNumber = instance_number if instance_number is not None else next(_counter)
    ds.SliceLocation = "-12.5"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    if pixel_data:
        ds.PixelData = bytes(i % 251 for i in range(rows * columns * 2))
    for keyword, value in extra.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def make_dataset_bytes(ds: Dataset, transfer_syntax_uid: str = EXPLICIT_VR_LITTLE_ENDIAN) -> bytes:
    """Encode ``ds`` as a C-STORE data set (no preamble, no file meta).

    Implicit VR Little Endian, Explicit VR Big Endian and Deflated Explicit VR Little
    Endian (raw deflate, PS3.5 A.5) are honoured; any other transfer syntax is encoded
    as Explicit VR Little Endian, as all compressed ones are (the caller provides
    suitably encapsulated Pixel Data if it matters).
    """
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN
    buffer.is_little_endian = transfer_syntax_uid != EXPLICIT_VR_BIG_ENDIAN
    write_dataset(buffer, ds)
    data = bytes(buffer.getvalue())
    if transfer_syntax_uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(data) + compressor.flush()
    return data


def make_part10_bytes(ds: Dataset, transfer_syntax_uid: str = EXPLICIT_VR_LITTLE_ENDIAN) -> bytes:
    """Encode ``ds`` as a DICOM Part 10 file: preamble, ``DICM``, file meta, data set."""
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    file_meta.TransferSyntaxUID = transfer_syntax_uid
    buffer = DicomBytesIO()
    write_file_meta_info(buffer, file_meta, enforce_standard=True)
    return (
        b"\x00" * 128
        + b"DICM"
        + bytes(buffer.getvalue())
        + make_dataset_bytes(ds, transfer_syntax_uid)
    )


def make_deflate_bomb(inflated_bytes: int = 2**30) -> bytes:
    """Return a raw deflate stream of ``inflated_bytes`` zeros (about 1 MB per GiB).

    Built from one compressed 16 MiB block repeated: each block ends with a full flush,
    so blocks are independent and identical.
    """
    block_size = 16 * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(block_size)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(inflated_bytes, block_size)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    return block * count + tail
