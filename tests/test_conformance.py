"""The conformance tables agree with the conformance statement and with PS3.6 (via pydicom)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.uid import UID

from pacslink import conformance as c

STATEMENT = Path(__file__).parent / "data" / "conformance_statement.txt"
_ROW = re.compile(r"^(?P<name>[^\t]+)\t(?P<uid>1\.2\.840\.10008[0-9.]*)\s*$", re.MULTILINE)


def _section(text: str, start: str, end: str) -> str:
    """The text between the last ``start`` heading and the next ``end`` heading after it."""
    begin = text.rindex(start) + len(start)
    return text[begin : text.index(end, begin)]


@pytest.fixture(scope="module")
def statement() -> str:
    return STATEMENT.read_text(encoding="utf-8")


def test_storage_sop_classes_equal_the_statement(statement: str) -> None:
    section = _section(
        statement, "Impromed Client AE SOP Classes as SCU and SCP", "SOP Classes as SCU\n"
    )
    listed = [match["uid"] for match in _ROW.finditer(section)]
    assert len(listed) == 65
    assert len(set(listed)) == 65
    ours = [uid for _, uid in c.STORAGE_SOP_CLASSES]
    assert len(ours) == 65
    assert len(set(ours)) == 65, "duplicate UID in STORAGE_SOP_CLASSES"
    assert set(ours) == set(listed)
    assert ours == listed, "keep the statement's order"
    assert c.STORAGE_SOP_CLASS_UIDS == frozenset(listed)


def test_proposed_storage_contexts_of_the_statement_are_the_same_classes(statement: str) -> None:
    section = _section(statement, "Image Storage\n", "Proposed Transfer Syntax")
    proposed = {
        match[2]
        for match in re.finditer(
            r"^(.+?)\t(1\.2\.840\.10008[0-9.]*)\tSCU/SCP", section, re.MULTILINE
        )
    }
    assert proposed == c.STORAGE_SOP_CLASS_UIDS


@pytest.mark.parametrize(("name", "uid"), c.STORAGE_SOP_CLASSES)
def test_storage_sop_class_uid_is_valid_and_named_as_in_ps36(name: str, uid: str) -> None:
    value = UID(uid)
    assert value.is_valid
    assert value.type == "SOP Class"
    retired = " (Retired)"
    assert name.endswith(retired) == value.is_retired
    assert name.removesuffix(retired) == value.name


def test_query_retrieve_sop_classes(statement: str) -> None:
    section = _section(statement, "SOP Classes as SCU\n", "Association Acceptance")
    listed = {match["uid"] for match in _ROW.finditer(section)}
    assert listed == {
        c.PATIENT_ROOT_QR_FIND,
        c.PATIENT_ROOT_QR_MOVE,
        c.STUDY_ROOT_QR_FIND,
        c.STUDY_ROOT_QR_MOVE,
    }
    for name, uid in c.QR_SOP_CLASSES:
        assert UID(uid).name == name
    assert UID(c.PATIENT_ROOT_QR_GET).keyword == "PatientRootQueryRetrieveInformationModelGet"
    assert UID(c.STUDY_ROOT_QR_GET).keyword == "StudyRootQueryRetrieveInformationModelGet"
    assert UID(c.VERIFICATION_SOP_CLASS).keyword == "Verification"
    assert c.VERIFICATION_SOP_CLASS in statement


def test_transfer_syntaxes() -> None:
    for name, uid in c.TRANSFER_SYNTAXES:
        value = UID(uid)
        assert value.is_valid and value.is_transfer_syntax
        assert value.name == name
    expected = {
        c.IMPLICIT_VR_LITTLE_ENDIAN: "ImplicitVRLittleEndian",
        c.EXPLICIT_VR_LITTLE_ENDIAN: "ExplicitVRLittleEndian",
        c.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: "DeflatedExplicitVRLittleEndian",
        c.EXPLICIT_VR_BIG_ENDIAN: "ExplicitVRBigEndian",
        c.JPEG_BASELINE_8BIT: "JPEGBaseline8Bit",
        c.JPEG_EXTENDED_12BIT: "JPEGExtended12Bit",
        c.JPEG_LOSSLESS: "JPEGLossless",
        c.JPEG_LOSSLESS_SV1: "JPEGLosslessSV1",
        c.JPEG_LS_LOSSLESS: "JPEGLSLossless",
        c.JPEG_LS_NEAR_LOSSLESS: "JPEGLSNearLossless",
        c.JPEG_2000_LOSSLESS: "JPEG2000Lossless",
        c.JPEG_2000: "JPEG2000",
        c.HTJ2K_LOSSLESS: "HTJ2KLossless",
        c.HTJ2K_LOSSLESS_RPCL: "HTJ2KLosslessRPCL",
        c.HTJ2K: "HTJ2K",
        c.RLE_LOSSLESS: "RLELossless",
    }
    for uid, keyword in expected.items():
        assert UID(uid).keyword == keyword


def test_storage_transfer_syntaxes() -> None:
    accepted = c.STORAGE_TRANSFER_SYNTAXES
    assert len(set(accepted)) == len(accepted)
    assert set(accepted) == {uid for _, uid in c.TRANSFER_SYNTAXES}
    assert set(c.UNCOMPRESSED_TRANSFER_SYNTAXES) <= set(accepted)
    for uid in c.UNCOMPRESSED_TRANSFER_SYNTAXES:
        assert not UID(uid).is_compressed
    # the statement's only syntax, and every DICOM peer's default (PS3.5 10.1)
    assert c.IMPLICIT_VR_LITTLE_ENDIAN in accepted[:2]
    lossless = {c.JPEG_LOSSLESS, c.JPEG_LOSSLESS_SV1, c.JPEG_LS_LOSSLESS, c.JPEG_2000_LOSSLESS}
    lossy = {c.JPEG_BASELINE_8BIT, c.JPEG_EXTENDED_12BIT, c.JPEG_2000}
    assert max(accepted.index(uid) for uid in lossless) < min(accepted.index(uid) for uid in lossy)


#: How the statement spells keywords that differ from PS3.6 ("Imageld" is an OCR slip).
_STATEMENT_SPELLING = {
    "StudyInstanceUid": "StudyInstanceUID",
    "PatientId": "PatientID",
    "ReferringPhysiciansName": "ReferringPhysicianName",
    "PatientsWeight": "PatientWeight",
    "SeriesInstanceUid": "SeriesInstanceUID",
    "SopInstanceUid": "SOPInstanceUID",
    "SopClassUid": "SOPClassUID",
    "Imageld": "ImageID",
}


def _statement_query_rows(statement: str) -> list[tuple[str, str, int, str]]:
    section = _section(
        statement, "SOP Specific Conformance for the Query Class", "Communication Profiles"
    )
    rows = []
    pattern = r"^(Study|Series|Image)\t(\w+)\t\(([0-9A-F]{4}),([0-9A-F]{4})\)\t([A-Z]{2})\s*$"
    for match in re.finditer(pattern, section, re.MULTILINE):
        level, name, group, element, vr = match.groups()
        rows.append((level.upper(), name, int(group + element, 16), vr))
    return rows


def test_query_keys_follow_the_statement_with_the_acquisition_number_fix(statement: str) -> None:
    theirs = _statement_query_rows(statement)
    ours = c.QUERY_KEY_TABLE
    assert len(theirs) == len(ours) == 31
    for (level, name, tag, vr), (our_level, keyword, our_tag, our_vr) in zip(theirs, ours):
        assert level == our_level
        assert vr == our_vr
        if keyword == "AcquisitionNumber":
            # the statement lists (0008,0050), which is AccessionNumber
            assert tag == 0x00080050
            assert our_tag == 0x00200012
        else:
            assert tag == our_tag, keyword
        assert _STATEMENT_SPELLING.get(name, name) == keyword


@pytest.mark.parametrize(("level", "keyword", "tag", "vr"), c.QUERY_KEY_TABLE)
def test_query_key_tags_match_the_dicom_dictionary(
    level: str, keyword: str, tag: int, vr: str
) -> None:
    assert keyword_for_tag(tag) == keyword
    assert dictionary_VR(tag) == vr
    assert keyword in c.QUERY_KEYS[level]


def test_query_keys_per_level() -> None:
    assert set(c.QUERY_KEYS) == {"STUDY", "SERIES", "IMAGE"}
    assert c.QUERY_KEYS["STUDY"] == c.STUDY_KEYS
    assert "StudyInstanceUID" in c.STUDY_KEYS and "PatientID" in c.STUDY_KEYS
    assert "SeriesInstanceUID" in c.SERIES_KEYS and "Modality" in c.SERIES_KEYS
    assert "SOPInstanceUID" in c.IMAGE_KEYS and "AcquisitionNumber" in c.IMAGE_KEYS
    with pytest.raises(TypeError):
        c.QUERY_KEYS["PATIENT"] = ()  # type: ignore[index]


def test_module_imports_only_the_standard_library() -> None:
    import ast
    import sys

    tree = ast.parse(Path(c.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names, name
