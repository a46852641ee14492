"""The data dictionary entries of Query/Retrieve identifiers (PS3.6 section 6).

Tag, keyword and VR of every attribute pacslink puts in a C-FIND identifier (the
conformance statement's keys, :mod:`pacslink.conformance`, and the extra ones of
:mod:`pacslink.identifiers`) and of those SCPs commonly add to their answers. With it, a
``pacslink find`` encodes its request and decodes the matches without importing pydicom,
whose import (with NumPy and the pixel plugins) takes about 0.14 s of the command's
start-up. Anything outside this table is looked up in pydicom's full dictionary.
``tests/test_query_dictionary.py`` checks every entry against pydicom's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: tag -> (keyword, VR), as in PS3.6.
BY_TAG: Final[Mapping[int, tuple[str, str]]] = MappingProxyType({
    0x00080005: ("SpecificCharacterSet", "CS"),
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080020: ("StudyDate", "DA"),
    0x00080021: ("SeriesDate", "DA"),
    0x00080022: ("AcquisitionDate", "DA"),
    0x00080023: ("ContentDate", "DA"),
    0x00080030: ("StudyTime", "TM"),
    0x00080031: ("SeriesTime", "TM"),
    0x00080032: ("AcquisitionTime", "TM"),
    0x00080033: ("ContentTime", "TM"),
    0x00080050: ("AccessionNumber", "SH"),
    0x00080052: ("QueryRetrieveLevel", "CS"),
    0x00080054: ("RetrieveAETitle", "AE"),
    0x00080056: ("InstanceAvailability", "CS"),
    0x00080060: ("Modality", "CS"),
    0x00080061: ("ModalitiesInStudy", "CS"),
    0x00080062: ("SOPClassesInStudy", "UI"),
    0x00080070: ("Manufacturer", "LO"),
    0x00080080: ("InstitutionName", "LO"),
    0x00080090: ("ReferringPhysicianName", "PN"),
    0x00080201: ("TimezoneOffsetFromUTC", "SH"),
    0x00081010: ("StationName", "SH"),
    0x00081030: ("StudyDescription", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00081050: ("PerformingPhysicianName", "PN"),
    0x00081060: ("NameOfPhysiciansReadingStudy", "PN"),
    0x00081080: ("AdmittingDiagnosesDescription", "LO"),
    0x00081090: ("ManufacturerModelName", "LO"),
    0x00100010: ("PatientName", "PN"),
    0x00100020: ("PatientID", "LO"),
    0x00100021: ("IssuerOfPatientID", "LO"),
    0x00100030: ("PatientBirthDate", "DA"),
    0x00100032: ("PatientBirthTime", "TM"),
    0x00100040: ("PatientSex", "CS"),
    0x00101000: ("OtherPatientIDs", "LO"),
    0x00101010: ("PatientAge", "AS"),
    0x00101030: ("PatientWeight", "DS"),
    0x00102160: ("EthnicGroup", "SH"),
    0x001021B0: ("AdditionalPatientHistory", "LT"),
    0x00104000: ("PatientComments", "LT"),
    0x00180015: ("BodyPartExamined", "CS"),
    0x00181030: ("ProtocolName", "LO"),
    0x00185100: ("PatientPosition", "CS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200010: ("StudyID", "SH"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00200060: ("Laterality", "CS"),
    0x00201041: ("SliceLocation", "DS"),
    0x00201200: ("NumberOfPatientRelatedStudies", "IS"),
    0x00201202: ("NumberOfPatientRelatedSeries", "IS"),
    0x00201204: ("NumberOfPatientRelatedInstances", "IS"),
    0x00201206: ("NumberOfStudyRelatedSeries", "IS"),
    0x00201208: ("NumberOfStudyRelatedInstances", "IS"),
    0x00201209: ("NumberOfSeriesRelatedInstances", "IS"),
    0x00204000: ("ImageComments", "LT"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00540400: ("ImageID", "SH"),
    0x00880130: ("StorageMediaFileSetID", "SH"),
})

#: keyword -> (tag, VR).
BY_KEYWORD: Final[Mapping[str, tuple[int, str]]] = MappingProxyType(
    {keyword: (tag, vr) for tag, (keyword, vr) in BY_TAG.items()}
)

__all__ = ["BY_KEYWORD", "BY_TAG"]
