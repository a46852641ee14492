"""The SOP classes, transfer syntaxes and query keys pacslink supports.

One source of truth for what pacslink negotiates and asks for. The tables follow the
conformance statement pacslink is built against (``tests/data/conformance_statement.txt``,
a test checks them against it) and are named as in PS3.6 Annex A, so a reader can look
every UID up in the standard.

This module imports only the standard library: the network engine, the Storage SCP, the
query builder and the front-ends all read it.

Terms
-----
SOP class
    Service-Object Pair class (PS3.4): what can be done (store, find, move) with which
    kind of object (CT image, presentation state ...), identified by a UID.
Transfer syntax
    How a data set is encoded on the wire and in the file: VR implicit or explicit, byte
    order, and pixel data compression (PS3.5 section 10, Annex A).
Q/R
    Query/Retrieve (PS3.4 Annex C): C-FIND to search, C-MOVE or C-GET to retrieve.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# --------------------------------------------------------------------------------------
# Storage SOP classes (PS3.4 Annex B)
# --------------------------------------------------------------------------------------

#: The 65 storage SOP classes of the conformance statement's table of SOP classes as SCU
#: and SCP, in the statement's order, as ``(name, UID)``. Names are
#: those of PS3.6 Annex A; ``(Retired)`` marks classes the standard has retired, which
#: older modalities still send. The Storage SCP accepts exactly these (plus Verification).
STORAGE_SOP_CLASSES: Final[tuple[tuple[str, str], ...]] = (
    ("Ambulatory ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.3"),
    ("Basic Voice Audio Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.4.1"),
    ("Cardiac Electrophysiology Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.3.1"),
    ("Computed Radiography Image Storage", "1.2.840.10008.5.1.4.1.1.1"),
    ("CT Image Storage", "1.2.840.10008.5.1.4.1.1.2"),
    ("Digital Intra-Oral X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.3"),
    ("Digital Intra-Oral X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.3.1"),
    ("Digital Mammography X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.2"),
    ("Digital Mammography X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.2.1"),
    ("Digital X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.1"),
    ("Digital X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.1.1"),
    ("12-lead ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.1"),
    ("Enhanced CT Image Storage", "1.2.840.10008.5.1.4.1.1.2.1"),
    ("Enhanced MR Image Storage", "1.2.840.10008.5.1.4.1.1.4.1"),
    ("General ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.2"),
    ("Grayscale Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.1"),
    ("Hardcopy Color Image Storage SOP Class (Retired)", "1.2.840.10008.5.1.1.30"),
    ("Hardcopy Grayscale Image Storage SOP Class (Retired)", "1.2.840.10008.5.1.1.29"),
    ("Hemodynamic Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.2.1"),
    ("Key Object Selection Document Storage", "1.2.840.10008.5.1.4.1.1.88.59"),
    ("MR Image Storage", "1.2.840.10008.5.1.4.1.1.4"),
    ("MR Spectroscopy Storage", "1.2.840.10008.5.1.4.1.1.4.2"),
    ("Multi-frame Grayscale Byte Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.2"),
    ("Multi-frame Grayscale Word Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.3"),
    ("Multi-frame Single Bit Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.1"),
    ("Multi-frame True Color Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.4"),
    ("Nuclear Medicine Image Storage", "1.2.840.10008.5.1.4.1.1.20"),
    ("Nuclear Medicine Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.5"),
    ("Ophthalmic Photography 16 Bit Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.5.2"),
    ("Ophthalmic Photography 8 Bit Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.5.1"),
    ("Positron Emission Tomography Image Storage", "1.2.840.10008.5.1.4.1.1.128"),
    ("Raw Data Storage", "1.2.840.10008.5.1.4.1.1.66"),
    ("RT Beams Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.4"),
    ("RT Brachy Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.6"),
    ("RT Dose Storage", "1.2.840.10008.5.1.4.1.1.481.2"),
    ("RT Image Storage", "1.2.840.10008.5.1.4.1.1.481.1"),
    ("RT Plan Storage", "1.2.840.10008.5.1.4.1.1.481.5"),
    ("RT Structure Set Storage", "1.2.840.10008.5.1.4.1.1.481.3"),
    ("RT Treatment Summary Record Storage", "1.2.840.10008.5.1.4.1.1.481.7"),
    ("Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7"),
    ("Spatial Fiducials Storage", "1.2.840.10008.5.1.4.1.1.66.2"),
    ("Spatial Registration Storage", "1.2.840.10008.5.1.4.1.1.66.1"),
    ("Standalone Curve Storage (Retired)", "1.2.840.10008.5.1.4.1.1.9"),
    ("Standalone Modality LUT Storage (Retired)", "1.2.840.10008.5.1.4.1.1.10"),
    ("Standalone Overlay Storage (Retired)", "1.2.840.10008.5.1.4.1.1.8"),
    ("Standalone PET Curve Storage (Retired)", "1.2.840.10008.5.1.4.1.1.129"),
    ("Standalone VOI LUT Storage (Retired)", "1.2.840.10008.5.1.4.1.1.11"),
    ("Stereometric Relationship Storage", "1.2.840.10008.5.1.4.1.1.77.1.5.3"),
    ("Stored Print Storage SOP Class (Retired)", "1.2.840.10008.5.1.1.27"),
    ("Ultrasound Image Storage", "1.2.840.10008.5.1.4.1.1.6.1"),
    ("Ultrasound Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.6"),
    ("Ultrasound Multi-frame Image Storage", "1.2.840.10008.5.1.4.1.1.3.1"),
    ("Ultrasound Multi-frame Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.3"),
    ("Video Endoscopic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.1.1"),
    ("Video Microscopic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.2.1"),
    ("Video Photographic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.4.1"),
    ("VL Endoscopic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.1"),
    ("VL Image Storage - Trial (Retired)", "1.2.840.10008.5.1.4.1.1.77.1"),
    ("VL Microscopic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.2"),
    ("VL Multi-frame Image Storage - Trial (Retired)", "1.2.840.10008.5.1.4.1.1.77.2"),
    ("VL Photographic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.4"),
    ("VL Slide-Coordinates Microscopic Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.3"),
    ("X-Ray Angiographic Bi-Plane Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.12.3"),
    ("X-Ray Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.12.1"),
    ("X-Ray Radiofluoroscopic Image Storage", "1.2.840.10008.5.1.4.1.1.12.2"),
)

#: The UIDs of :data:`STORAGE_SOP_CLASSES`, for membership tests.
STORAGE_SOP_CLASS_UIDS: Final[frozenset[str]] = frozenset(uid for _, uid in STORAGE_SOP_CLASSES)

# --------------------------------------------------------------------------------------
# Verification and Query/Retrieve SOP classes (PS3.4 Annexes A and C)
# --------------------------------------------------------------------------------------

#: Verification SOP Class (PS3.4 A.4): C-ECHO, as SCU and SCP.
VERIFICATION_SOP_CLASS: Final = "1.2.840.10008.1.1"

#: Patient Root Query/Retrieve Information Model - FIND (PS3.4 C.6.1.1.2).
PATIENT_ROOT_QR_FIND: Final = "1.2.840.10008.5.1.4.1.2.1.1"
#: Patient Root Query/Retrieve Information Model - MOVE (PS3.4 C.6.1.1.3).
PATIENT_ROOT_QR_MOVE: Final = "1.2.840.10008.5.1.4.1.2.1.2"
#: Patient Root Query/Retrieve Information Model - GET (PS3.4 C.6.1.1.4).
PATIENT_ROOT_QR_GET: Final = "1.2.840.10008.5.1.4.1.2.1.3"
#: Study Root Query/Retrieve Information Model - FIND (PS3.4 C.6.2.1.2).
STUDY_ROOT_QR_FIND: Final = "1.2.840.10008.5.1.4.1.2.2.1"
#: Study Root Query/Retrieve Information Model - MOVE (PS3.4 C.6.2.1.3).
STUDY_ROOT_QR_MOVE: Final = "1.2.840.10008.5.1.4.1.2.2.2"
#: Study Root Query/Retrieve Information Model - GET (PS3.4 C.6.2.1.4).
STUDY_ROOT_QR_GET: Final = "1.2.840.10008.5.1.4.1.2.2.3"

#: The Q/R SOP classes pacslink uses as SCU, as ``(name, UID)``. The statement lists FIND
#: and MOVE; GET is added for peers that cannot connect back to us.
QR_SOP_CLASSES: Final[tuple[tuple[str, str], ...]] = (
    ("Patient Root Query/Retrieve Information Model - FIND", PATIENT_ROOT_QR_FIND),
    ("Patient Root Query/Retrieve Information Model - MOVE", PATIENT_ROOT_QR_MOVE),
    ("Patient Root Query/Retrieve Information Model - GET", PATIENT_ROOT_QR_GET),
    ("Study Root Query/Retrieve Information Model - FIND", STUDY_ROOT_QR_FIND),
    ("Study Root Query/Retrieve Information Model - MOVE", STUDY_ROOT_QR_MOVE),
    ("Study Root Query/Retrieve Information Model - GET", STUDY_ROOT_QR_GET),
)

# --------------------------------------------------------------------------------------
# Transfer syntaxes (PS3.5 section 10 and Annex A; PS3.6 Annex A)
# --------------------------------------------------------------------------------------

#: Implicit VR Little Endian, the DICOM default transfer syntax (PS3.5 A.1).
IMPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2"
#: Explicit VR Little Endian (PS3.5 A.2).
EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1"
#: Deflated Explicit VR Little Endian (PS3.5 A.5): the whole data set zlib-deflated.
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1.99"
#: Explicit VR Big Endian (PS3.5 A.3), retired but still sent by old equipment.
EXPLICIT_VR_BIG_ENDIAN: Final = "1.2.840.10008.1.2.2"
#: JPEG Baseline (Process 1): lossy 8-bit JPEG (PS3.5 A.4.1).
JPEG_BASELINE_8BIT: Final = "1.2.840.10008.1.2.4.50"
#: JPEG Extended (Process 2 and 4): lossy 12-bit JPEG (PS3.5 A.4.1).
JPEG_EXTENDED_12BIT: Final = "1.2.840.10008.1.2.4.51"
#: JPEG Lossless, Non-Hierarchical (Process 14) (PS3.5 A.4.1).
JPEG_LOSSLESS: Final = "1.2.840.10008.1.2.4.57"
#: JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1]).
JPEG_LOSSLESS_SV1: Final = "1.2.840.10008.1.2.4.70"
#: JPEG-LS Lossless Image Compression (PS3.5 A.4.3).
JPEG_LS_LOSSLESS: Final = "1.2.840.10008.1.2.4.80"
#: JPEG-LS Lossy (Near-Lossless) Image Compression (PS3.5 A.4.3).
JPEG_LS_NEAR_LOSSLESS: Final = "1.2.840.10008.1.2.4.81"
#: JPEG 2000 Image Compression (Lossless Only) (PS3.5 A.4.4).
JPEG_2000_LOSSLESS: Final = "1.2.840.10008.1.2.4.90"
#: JPEG 2000 Image Compression, lossless or lossy (PS3.5 A.4.4).
JPEG_2000: Final = "1.2.840.10008.1.2.4.91"
#: High-Throughput JPEG 2000 Image Compression (Lossless Only) (PS3.5 A.4.11).
HTJ2K_LOSSLESS: Final = "1.2.840.10008.1.2.4.201"
#: High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only).
HTJ2K_LOSSLESS_RPCL: Final = "1.2.840.10008.1.2.4.202"
#: High-Throughput JPEG 2000 Image Compression, lossless or lossy (PS3.5 A.4.11).
HTJ2K: Final = "1.2.840.10008.1.2.4.203"
#: RLE Lossless (PS3.5 A.4.2, Annex G).
RLE_LOSSLESS: Final = "1.2.840.10008.1.2.5"

#: Every transfer syntax named in this module, as ``(name, UID)`` (PS3.6 Annex A names).
TRANSFER_SYNTAXES: Final[tuple[tuple[str, str], ...]] = (
    ("Implicit VR Little Endian", IMPLICIT_VR_LITTLE_ENDIAN),
    ("Explicit VR Little Endian", EXPLICIT_VR_LITTLE_ENDIAN),
    ("Deflated Explicit VR Little Endian", DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN),
    ("Explicit VR Big Endian", EXPLICIT_VR_BIG_ENDIAN),
    ("JPEG Baseline (Process 1)", JPEG_BASELINE_8BIT),
    ("JPEG Extended (Process 2 and 4)", JPEG_EXTENDED_12BIT),
    ("JPEG Lossless, Non-Hierarchical (Process 14)", JPEG_LOSSLESS),
    (
        (
            "JPEG Lossless, Non-Hierarchical, First-Order Prediction "
            "(Process 14 [Selection Value 1])"
        ),
        JPEG_LOSSLESS_SV1,
    ),
    ("JPEG-LS Lossless Image Compression", JPEG_LS_LOSSLESS),
    ("JPEG-LS Lossy (Near-Lossless) Image Compression", JPEG_LS_NEAR_LOSSLESS),
    ("JPEG 2000 Image Compression (Lossless Only)", JPEG_2000_LOSSLESS),
    ("JPEG 2000 Image Compression", JPEG_2000),
    ("High-Throughput JPEG 2000 Image Compression (Lossless Only)", HTJ2K_LOSSLESS),
    (
        "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
        HTJ2K_LOSSLESS_RPCL,
    ),
    ("High-Throughput JPEG 2000 Image Compression", HTJ2K),
    ("RLE Lossless", RLE_LOSSLESS),
)

#: Transfer syntaxes whose pixel data is not compressed, in our order of preference.
#: Implicit VR Little Endian comes last among the little endian ones because it loses the
#: VRs; every DICOM peer must support it (PS3.5 10.1), so it is the fallback we always offer.
UNCOMPRESSED_TRANSFER_SYNTAXES: Final[tuple[str, ...]] = (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
)

#: Everything the Storage SCP accepts, in our order of preference. The SCP stores data sets
#: bit for bit, so it prefers whichever of these the sender proposes for a context (the
#: syntax the sender's file already has, nothing transcoded); this order only breaks ties.
#: Uncompressed little endian first, then the lossless compressions, then the lossy ones
#: (accepting them does not lose anything: the sender's file already is lossy), then
#: Deflated (inflated with a size bound) and big endian.
STORAGE_TRANSFER_SYNTAXES: Final[tuple[str, ...]] = (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_LOSSLESS_SV1,
    JPEG_LOSSLESS,
    JPEG_LS_LOSSLESS,
    JPEG_2000_LOSSLESS,
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    RLE_LOSSLESS,
    JPEG_BASELINE_8BIT,
    JPEG_EXTENDED_12BIT,
    JPEG_LS_NEAR_LOSSLESS,
    JPEG_2000,
    HTJ2K,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
)

# --------------------------------------------------------------------------------------
# Query/Retrieve return keys (the statement's "SOP Specific Conformance for the Query
# Class" table)
# --------------------------------------------------------------------------------------

#: Each row: ``(QueryRetrieveLevel, keyword, tag, VR)``; keyword as in PS3.6 and pydicom,
#: tag as ``0xGGGGEEEE``. The statement spells the keywords loosely (``PatientId``,
#: ``Imageld``) and lists AcquisitionNumber as (0008,0050), which is AccessionNumber; the
#: right tag, (0020,0012), is used here.
QUERY_KEY_TABLE: Final[tuple[tuple[str, str, int, str], ...]] = (
    ("STUDY", "StudyInstanceUID", 0x0020000D, "UI"),
    ("STUDY", "StudyDate", 0x00080020, "DA"),
    ("STUDY", "StudyTime", 0x00080030, "TM"),
    ("STUDY", "PatientID", 0x00100020, "LO"),
    ("STUDY", "StudyDescription", 0x00081030, "LO"),
    ("STUDY", "ReferringPhysicianName", 0x00080090, "PN"),
    ("STUDY", "PatientWeight", 0x00101030, "DS"),
    ("STUDY", "AccessionNumber", 0x00080050, "SH"),
    ("SERIES", "SeriesInstanceUID", 0x0020000E, "UI"),
    ("SERIES", "SeriesNumber", 0x00200011, "IS"),
    ("SERIES", "SeriesTime", 0x00080031, "TM"),
    ("SERIES", "SeriesDate", 0x00080021, "DA"),
    ("SERIES", "BodyPartExamined", 0x00180015, "CS"),
    ("SERIES", "ProtocolName", 0x00181030, "LO"),
    ("SERIES", "PatientPosition", 0x00185100, "CS"),
    ("SERIES", "SeriesDescription", 0x0008103E, "LO"),
    ("SERIES", "Modality", 0x00080060, "CS"),
    ("IMAGE", "SOPInstanceUID", 0x00080018, "UI"),
    ("IMAGE", "SOPClassUID", 0x00080016, "UI"),
    ("IMAGE", "InstanceAvailability", 0x00080056, "CS"),
    ("IMAGE", "InstanceNumber", 0x00200013, "IS"),
    ("IMAGE", "ContentDate", 0x00080023, "DA"),
    ("IMAGE", "ContentTime", 0x00080033, "TM"),
    ("IMAGE", "ImageType", 0x00080008, "CS"),
    ("IMAGE", "SliceLocation", 0x00201041, "DS"),
    ("IMAGE", "ImageID", 0x00540400, "SH"),
    ("IMAGE", "AcquisitionDate", 0x00080022, "DA"),
    ("IMAGE", "AcquisitionTime", 0x00080032, "TM"),
    ("IMAGE", "AcquisitionNumber", 0x00200012, "IS"),
    ("IMAGE", "Rows", 0x00280010, "US"),
    ("IMAGE", "Columns", 0x00280011, "US"),
)


def _keys_of(level: str) -> tuple[str, ...]:
    """Return the keywords of one level of :data:`QUERY_KEY_TABLE`, in table order."""
    return tuple(keyword for row_level, keyword, _, _ in QUERY_KEY_TABLE if row_level == level)


#: Return keys requested at the STUDY level, as keywords.
STUDY_KEYS: Final[tuple[str, ...]] = _keys_of("STUDY")
#: Return keys requested at the SERIES level, as keywords.
SERIES_KEYS: Final[tuple[str, ...]] = _keys_of("SERIES")
#: Return keys requested at the IMAGE level, as keywords.
IMAGE_KEYS: Final[tuple[str, ...]] = _keys_of("IMAGE")

#: Return keys per QueryRetrieveLevel (0008,0052) value (PS3.4 C.6): ``STUDY``,
#: ``SERIES`` and ``IMAGE``. Read-only.
QUERY_KEYS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"STUDY": STUDY_KEYS, "SERIES": SERIES_KEYS, "IMAGE": IMAGE_KEYS}
)

__all__ = [
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "HTJ2K",
    "HTJ2K_LOSSLESS",
    "HTJ2K_LOSSLESS_RPCL",
    "IMAGE_KEYS",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "JPEG_2000",
    "JPEG_2000_LOSSLESS",
    "JPEG_BASELINE_8BIT",
    "JPEG_EXTENDED_12BIT",
    "JPEG_LOSSLESS",
    "JPEG_LOSSLESS_SV1",
    "JPEG_LS_LOSSLESS",
    "JPEG_LS_NEAR_LOSSLESS",
    "PATIENT_ROOT_QR_FIND",
    "PATIENT_ROOT_QR_GET",
    "PATIENT_ROOT_QR_MOVE",
    "QR_SOP_CLASSES",
    "QUERY_KEYS",
    "QUERY_KEY_TABLE",
    "RLE_LOSSLESS",
    "SERIES_KEYS",
    "STORAGE_SOP_CLASSES",
    "STORAGE_SOP_CLASS_UIDS",
    "STORAGE_TRANSFER_SYNTAXES",
    "STUDY_KEYS",
    "STUDY_ROOT_QR_FIND",
    "STUDY_ROOT_QR_GET",
    "STUDY_ROOT_QR_MOVE",
    "TRANSFER_SYNTAXES",
    "UNCOMPRESSED_TRANSFER_SYNTAXES",
    "VERIFICATION_SOP_CLASS",
]
