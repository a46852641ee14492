"""C-FIND / C-MOVE identifiers: built strictly, encoded in three syntaxes, read tolerantly."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from pacslink import conformance as cf
from pacslink.errors import PacslinkError, QueryError
from pacslink.identifier_reader import _decode_with_pydicom, _plain_elements
from pacslink.identifiers import (
    build_find_identifier,
    build_retrieve_identifier,
    decode_identifier,
    encode_identifier,
    find_sop_class,
    get_sop_class,
    move_sop_class,
    return_keys,
)
from pacslink.models import Query, QueryLevel, QueryMatch, QueryModel

STATEMENT = Path(__file__).parent / "data" / "conformance_statement.txt"
PATIENT_ROOT, STUDY_ROOT = QueryModel.PATIENT_ROOT, QueryModel.STUDY_ROOT
PATIENT, STUDY, SERIES, IMAGE = tuple(QueryLevel)
SYNTAXES = [cf.IMPLICIT_VR_LITTLE_ENDIAN, cf.EXPLICIT_VR_LITTLE_ENDIAN, cf.EXPLICIT_VR_BIG_ENDIAN]
ACQUISITION_NUMBER, ACCESSION_NUMBER = Tag(0x0020, 0x0012), Tag(0x0008, 0x0050)
QR_LEVEL, CHARSET = Tag(0x0008, 0x0052), Tag(0x0008, 0x0005)

STUDY_UID, SERIES_UID = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.1.2"
SOP_UID, SOP_UID_2 = "1.2.826.0.1.3680043.8.498.1.2.3", "1.2.826.0.1.3680043.8.498.1.2.4"


def statement_tags() -> dict[str, set[Tag]]:
    """The statement's "SOP Specific Conformance for the Query Class" table, by level.

    The statement lists AcquisitionNumber at (0008,0050), which is AccessionNumber (a Study
    key of the same table); the right tag is (0020,0012).
    """
    text = STATEMENT.read_text(encoding="utf-8")
    table = text[text.rindex("SOP Specific Conformance for the Query Class") :]
    table = table[: table.index("Communication Profiles")]
    tags: dict[str, set[Tag]] = {"STUDY": set(), "SERIES": set(), "IMAGE": set()}
    for level, name, group, element in re.findall(
        r"^(Study|Series|Image)\t(\w+)\t\((\w{4}),(\w{4})\)", table, re.MULTILINE
    ):
        tag = Tag(int(group, 16), int(element, 16))
        if name == "AcquisitionNumber":
            assert tag == ACCESSION_NUMBER, "the statement's typo was fixed: drop this special case"
            tag = ACQUISITION_NUMBER
        tags[level.upper()].add(tag)
    assert [len(tags[level]) for level in ("STUDY", "SERIES", "IMAGE")] == [8, 9, 14]
    return tags


def tags_of(*keywords: str) -> set[Tag]:
    return {Tag(tag_for_keyword(keyword)) for keyword in keywords}


STATEMENT_TAGS = statement_tags()
EXPECTED_TAGS = {
    (PATIENT, PATIENT_ROOT): tags_of("PatientID", "PatientName", "PatientBirthDate", "PatientSex"),
    **{
        (STUDY, model): STATEMENT_TAGS["STUDY"]
        | tags_of("PatientName", "PatientBirthDate", "PatientSex", "ModalitiesInStudy",
                  "NumberOfStudyRelatedInstances")
        for model in QueryModel
    },
    (SERIES, STUDY_ROOT): STATEMENT_TAGS["SERIES"]
    | tags_of("NumberOfSeriesRelatedInstances", "StudyInstanceUID"),
    (SERIES, PATIENT_ROOT): STATEMENT_TAGS["SERIES"]
    | tags_of("NumberOfSeriesRelatedInstances", "StudyInstanceUID", "PatientID"),
    (IMAGE, STUDY_ROOT): STATEMENT_TAGS["IMAGE"] | tags_of("StudyInstanceUID", "SeriesInstanceUID"),
    (IMAGE, PATIENT_ROOT): STATEMENT_TAGS["IMAGE"]
    | tags_of("StudyInstanceUID", "SeriesInstanceUID", "PatientID"),
}


def minimal_query(level: QueryLevel, model: QueryModel) -> Query:
    """The smallest valid query of a level in a model."""
    return Query(
        level=level,
        patient_id="VET001" if model is PATIENT_ROOT else None,
        study_instance_uid=STUDY_UID if level in (SERIES, IMAGE) else None,
        series_instance_uid=SERIES_UID if level is IMAGE else None,
    )


def encode_with_pydicom(ds: Dataset, syntax: str = cf.EXPLICIT_VR_LITTLE_ENDIAN) -> bytes:
    """Encode as a peer would: pydicom applies the data set's Specific Character Set."""
    fp = DicomBytesIO()
    fp.is_implicit_VR = syntax == cf.IMPLICIT_VR_LITTLE_ENDIAN
    fp.is_little_endian = syntax != cf.EXPLICIT_VR_BIG_ENDIAN
    write_dataset(fp, ds)
    return fp.getvalue()


# --- return keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "model"), sorted(EXPECTED_TAGS, key=str))
def test_find_identifier_requests_exactly_the_statements_keys(
    level: QueryLevel, model: QueryModel
) -> None:
    ds = build_find_identifier(minimal_query(level, model), model)
    assert set(ds.keys()) == EXPECTED_TAGS[level, model] | {QR_LEVEL}
    assert ds.QueryRetrieveLevel == level.value
    assert tags_of(*return_keys(level, model)) == EXPECTED_TAGS[level, model]
    unique_above = {"PatientID": "VET001", "StudyInstanceUID": STUDY_UID,
                    "SeriesInstanceUID": SERIES_UID}
    for elem in ds:
        if elem.tag != QR_LEVEL and elem.keyword not in unique_above:
            assert elem.value in (None, "", []), f"{elem.keyword} must be an empty return key"


def test_acquisition_number_is_requested_at_0020_0012_and_accession_only_at_study_level() -> None:
    image = build_find_identifier(minimal_query(IMAGE, STUDY_ROOT), STUDY_ROOT)
    assert ACQUISITION_NUMBER in image and image[ACQUISITION_NUMBER].keyword == "AcquisitionNumber"
    assert ACCESSION_NUMBER not in image
    study = build_find_identifier(Query(), STUDY_ROOT)
    assert ACCESSION_NUMBER in study and ACQUISITION_NUMBER not in study


def test_study_root_has_no_patient_level() -> None:
    with pytest.raises(QueryError, match="PATIENT level needs --model patient"):
        build_find_identifier(Query(level=PATIENT), STUDY_ROOT)
    with pytest.raises(QueryError, match="PATIENT level needs --model patient"):
        return_keys(PATIENT, STUDY_ROOT)


# --- matching values -----------------------------------------------------------------------


def test_study_level_matching_values() -> None:
    query = Query(patient_id="VET001", patient_name="SMITH^*", study_date="20250101-20251231",
                  modality="ct", accession_number="A-17", study_instance_uid=f"{STUDY_UID}\\1.2.3")
    ds = build_find_identifier(query, STUDY_ROOT)
    assert ds.PatientID == "VET001"
    assert ds.PatientName == "SMITH^*"
    assert ds.StudyDate == "20250101-20251231"
    assert ds.ModalitiesInStudy == "CT", "at STUDY level Modality matches Modalities in Study"
    assert "Modality" not in ds
    assert ds.AccessionNumber == "A-17"
    assert list(ds.StudyInstanceUID) == [STUDY_UID, "1.2.3"], "UID list matching, PS3.4 C.2.2.2.2"
    assert CHARSET not in ds, "ASCII values need no Specific Character Set"


@pytest.mark.parametrize("date", ["20250101", "20250101-20251231", "-20251231", "20250101-",
                                  "20240229"])
def test_dates_and_ranges_are_accepted(date: str) -> None:
    assert build_find_identifier(Query(study_date=date), STUDY_ROOT).StudyDate == date


def test_series_level_matches_modality_and_carries_the_study_uid() -> None:
    ds = build_find_identifier(
        Query(level=SERIES, patient_id="VET001", study_instance_uid=STUDY_UID, modality="MR"),
        STUDY_ROOT,
    )
    assert ds.Modality == "MR" and "ModalitiesInStudy" not in ds
    assert ds.StudyInstanceUID == STUDY_UID
    assert "PatientID" not in ds, "Study Root: only the study UID above SERIES level"
    patient_root = build_find_identifier(
        Query(level=SERIES, patient_id="VET001", study_instance_uid=STUDY_UID), PATIENT_ROOT
    )
    assert patient_root.PatientID == "VET001"


def test_image_level_with_a_list_of_instances() -> None:
    query = Query(level=IMAGE, patient_id=" VET001 ", study_instance_uid=STUDY_UID,
                  series_instance_uid=SERIES_UID, sop_instance_uid=f"{SOP_UID}\\{SOP_UID_2}")
    ds = build_find_identifier(query, PATIENT_ROOT)
    assert (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID) == (
        "VET001", STUDY_UID, SERIES_UID)
    assert list(ds.SOPInstanceUID) == [SOP_UID, SOP_UID_2]


def test_patient_level_in_patient_root() -> None:
    ds = build_find_identifier(Query(level=PATIENT, patient_name="Müller*"), PATIENT_ROOT)
    assert ds.PatientName == "Müller*" and ds.PatientID is None
    assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_non_ascii_values_set_utf8_and_encode_as_utf8() -> None:
    ds = build_find_identifier(Query(patient_id="VÉT-001", patient_name="山田^*"), STUDY_ROOT)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    data = encode_identifier(ds, cf.EXPLICIT_VR_LITTLE_ENDIAN)
    assert "山田^*".encode() in data and "VÉT-001".encode() in data


def test_empty_values_are_not_matching_keys() -> None:
    ds = build_find_identifier(Query(patient_id="  ", modality=""), STUDY_ROOT)
    assert ds.PatientID is None and ds.ModalitiesInStudy is None


def test_building_logs_and_warns_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = build_find_identifier(Query(modality="C*", study_date="-20250101"), STUDY_ROOT)
        encode_identifier(ds, cf.IMPLICIT_VR_LITTLE_ENDIAN)
    assert not caplog.records


# --- validation ----------------------------------------------------------------------------

BAD_QUERIES = [
    (Query(level=SERIES), STUDY_ROOT, "a SERIES query needs --study-uid"),
    (Query(level=IMAGE), STUDY_ROOT, "an IMAGE query needs --study-uid and --series-uid"),
    (Query(level=IMAGE, study_instance_uid=STUDY_UID), STUDY_ROOT,
     "an IMAGE query needs --series-uid"),
    (Query(level=STUDY), PATIENT_ROOT,
     r"Patient Root at STUDY level needs --patient-id \(PS3.4 C.6.1.1.2\)"),
    (Query(level=IMAGE, study_instance_uid=STUDY_UID, series_instance_uid=SERIES_UID),
     PATIENT_ROOT, "Patient Root at IMAGE level needs --patient-id"),
    (Query(level=PATIENT), STUDY_ROOT, "PATIENT level needs --model patient"),
    (Query(study_date="2025-01-01"), STUDY_ROOT,
     "--date must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD, got '2025-01-01'"),
    (Query(study_date="20250101-20251231-"), STUDY_ROOT, "--date must be YYYYMMDD or a range"),
    (Query(study_date="-"), STUDY_ROOT, "--date must be YYYYMMDD or a range"),
    (Query(study_date="20250230"), STUDY_ROOT, "not a calendar date"),
    (Query(study_date="20251231-20250101"), STUDY_ROOT, "the range ends before it starts"),
    (Query(study_instance_uid="1.2.03"), STUDY_ROOT,
     r"--study-uid '1.2.03' is not a valid UID: a component has a leading zero \(PS3.5 9.1"),
    (Query(study_instance_uid="1..2"), STUDY_ROOT, "an empty component"),
    (Query(study_instance_uid="1.2.abc"), STUDY_ROOT, "a character other than a digit or a dot"),
    (Query(study_instance_uid="1." + "2" * 63), STUDY_ROOT, "65 characters long"),
    (Query(study_instance_uid=f"{STUDY_UID}\\1.02"), STUDY_ROOT, "leading zero"),
    (Query(level=SERIES, study_instance_uid=f"{STUDY_UID}\\1.2.3"), STUDY_ROOT,
     "--study-uid takes a single UID above the SERIES level"),
    (Query(level=IMAGE, study_instance_uid=STUDY_UID, series_instance_uid="1.2\\1.3"),
     STUDY_ROOT, "--series-uid takes a single UID above the IMAGE level"),
    (Query(patient_id="V" * 65), STUDY_ROOT,
     "--patient-id is 65 characters long; LO allows at most 64"),
    (Query(patient_id="VET\\001"), STUDY_ROOT, "--patient-id holds a backslash"),
    (Query(patient_id="VET*"), STUDY_ROOT, "'\\*' and '\\?' are wildcards"),
    (Query(patient_id="VET\n001"), STUDY_ROOT, "--patient-id holds a control character"),
    (Query(patient_name="SMITH\\JONES"), STUDY_ROOT, "--name holds a backslash"),
    (Query(patient_name="A" * 65), STUDY_ROOT, "--name is 65 characters long"),
    (Query(patient_name="A^B^C^D^E^F"), STUDY_ROOT, "at most 5 components"),
    (Query(patient_name="A=B=C=D"), STUDY_ROOT, "3 '='-separated groups"),
    (Query(modality="CT\\MR"), STUDY_ROOT, "--modality holds a backslash"),
    (Query(modality="C-T"), STUDY_ROOT, "--modality must be a modality code"),
    (Query(modality="X" * 17), STUDY_ROOT, "CS allows at most 16"),
    (Query(accession_number="A" * 17), STUDY_ROOT, "--accession is 17 characters long; SH"),
    (Query(level=PATIENT, study_date="20250101"), PATIENT_ROOT,
     "--date cannot be used in a PATIENT query .*use --level study"),
    (Query(level=SERIES, study_instance_uid=STUDY_UID, study_date="20250101"), STUDY_ROOT,
     "--date cannot be used in a SERIES query"),
    (Query(level=IMAGE, study_instance_uid=STUDY_UID, series_instance_uid=SERIES_UID,
           modality="CT"), STUDY_ROOT, "--modality cannot be used in an IMAGE query"),
    (Query(level=SERIES, study_instance_uid=STUDY_UID, patient_name="A*"), STUDY_ROOT,
     "--name cannot be used in a SERIES query"),
    (Query(series_instance_uid=SERIES_UID), STUDY_ROOT,
     "--series-uid cannot be used in a STUDY query .*use --level series or image"),
    (Query(level=SERIES, study_instance_uid=STUDY_UID, sop_instance_uid=SOP_UID), STUDY_ROOT,
     "--instance-uid cannot be used in a SERIES query"),
    (Query(patient_id="VET001", patient_name="A*"), PATIENT_ROOT,
     "Patient Root at STUDY level matches the patient by --patient-id only"),
]


@pytest.mark.parametrize(("query", "model", "message"), BAD_QUERIES)
def test_invalid_queries_are_refused_with_a_fix(
    query: Query, model: QueryModel, message: str
) -> None:
    with pytest.raises(QueryError, match=message) as info:
        build_find_identifier(query, model)
    assert isinstance(info.value, PacslinkError)


# --- retrieve identifiers ------------------------------------------------------------------


@pytest.mark.parametrize("model", list(QueryModel))
def test_retrieve_identifiers_hold_only_unique_keys(model: QueryModel) -> None:
    pid = {"patient_id": "VET001"}
    study = build_retrieve_identifier(STUDY, study_instance_uid=STUDY_UID, model=model, **pid)
    series = build_retrieve_identifier(SERIES, study_instance_uid=STUDY_UID,
                                       series_instance_uid=SERIES_UID, model=model, **pid)
    image = build_retrieve_identifier(IMAGE, study_instance_uid=STUDY_UID,
                                      series_instance_uid=SERIES_UID,
                                      sop_instance_uids=[SOP_UID, SOP_UID_2], model=model, **pid)
    patient = {"PatientID"} if model is PATIENT_ROOT else set()
    assert {e.keyword for e in study} == {"QueryRetrieveLevel", "StudyInstanceUID"} | patient
    assert {e.keyword for e in series} == {"QueryRetrieveLevel", "StudyInstanceUID",
                                           "SeriesInstanceUID"} | patient
    assert {e.keyword for e in image} == {"QueryRetrieveLevel", "StudyInstanceUID",
                                          "SeriesInstanceUID", "SOPInstanceUID"} | patient
    assert (study.QueryRetrieveLevel, series.QueryRetrieveLevel) == ("STUDY", "SERIES")
    assert list(image.SOPInstanceUID) == [SOP_UID, SOP_UID_2]


def test_retrieve_a_patient_and_a_list_of_studies() -> None:
    ds = build_retrieve_identifier(PATIENT, patient_id="VET001", model=PATIENT_ROOT)
    assert {e.keyword for e in ds} == {"QueryRetrieveLevel", "PatientID"}
    studies = build_retrieve_identifier(STUDY, study_instance_uid=f"{STUDY_UID}\\1.2.3")
    assert list(studies.StudyInstanceUID) == [STUDY_UID, "1.2.3"]
    one = build_retrieve_identifier(IMAGE, study_instance_uid=STUDY_UID,
                                    series_instance_uid=SERIES_UID, sop_instance_uids=SOP_UID)
    assert one.SOPInstanceUID == SOP_UID


BAD_RETRIEVES = [
    (STUDY, {}, "a STUDY retrieve needs --study"),
    (SERIES, {"study_instance_uid": STUDY_UID}, "a SERIES retrieve needs --series"),
    (SERIES, {"series_instance_uid": SERIES_UID}, "a SERIES retrieve needs --study"),
    (IMAGE, {"study_instance_uid": STUDY_UID, "series_instance_uid": SERIES_UID},
     "an IMAGE retrieve needs --instance"),
    (IMAGE, {"sop_instance_uids": [SOP_UID]}, "an IMAGE retrieve needs --study and --series"),
    (STUDY, {"study_instance_uid": STUDY_UID, "model": PATIENT_ROOT},
     "Patient Root at STUDY level needs --patient-id"),
    (PATIENT, {"model": PATIENT_ROOT}, "Patient Root at PATIENT level needs --patient-id"),
    (PATIENT, {"patient_id": "VET001"}, "PATIENT level needs --model patient"),
    (STUDY, {"study_instance_uid": STUDY_UID, "series_instance_uid": SERIES_UID},
     "--series cannot be used to retrieve a STUDY: retrieve at level SERIES"),
    (SERIES, {"study_instance_uid": STUDY_UID, "series_instance_uid": SERIES_UID,
              "sop_instance_uids": [SOP_UID]}, "--instance cannot be used to retrieve a SERIES"),
    (SERIES, {"study_instance_uid": f"{STUDY_UID}\\1.2", "series_instance_uid": SERIES_UID},
     "--study takes a single UID above the SERIES level"),
    (IMAGE, {"study_instance_uid": STUDY_UID, "series_instance_uid": SERIES_UID,
             "sop_instance_uids": [SOP_UID, "1.2.x"]}, "--instance '1.2.x' is not a valid UID"),
    (STUDY, {"study_instance_uid": STUDY_UID, "patient_id": "P\\Q"},
     "--patient-id holds a backslash"),
]


@pytest.mark.parametrize(("level", "kwargs", "message"), BAD_RETRIEVES)
def test_invalid_retrieves_are_refused_with_a_fix(
    level: QueryLevel, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        build_retrieve_identifier(level, **kwargs)  # type: ignore[arg-type]


# --- encoding and decoding -----------------------------------------------------------------


def response(**values: object) -> Dataset:
    """A C-FIND response identifier as an SCP would send it."""
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_built_identifier_round_trips(syntax: str) -> None:
    query = Query(level=IMAGE, patient_id="VÉT001", study_instance_uid=STUDY_UID,
                  series_instance_uid=SERIES_UID, sop_instance_uid=f"{SOP_UID}\\{SOP_UID_2}")
    data = encode_identifier(build_find_identifier(query, PATIENT_ROOT), syntax)
    assert not data.startswith(b"\x00" * 128) and b"DICM" not in data
    match = decode_identifier(data, syntax, IMAGE)
    assert isinstance(match, QueryMatch)
    expected = dict.fromkeys(return_keys(IMAGE, PATIENT_ROOT), "")
    expected.update(QueryRetrieveLevel="IMAGE", PatientID="VÉT001", StudyInstanceUID=STUDY_UID,
                    SeriesInstanceUID=SERIES_UID, SOPInstanceUID=f"{SOP_UID}\\{SOP_UID_2}")
    assert match.attributes == expected
    assert match.level is IMAGE


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_response_decodes_to_text(syntax: str) -> None:
    ds = response(
        QueryRetrieveLevel="IMAGE", PatientName="SMITH^JOHN", SOPInstanceUID=SOP_UID,
        ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], Rows=512, Columns=1024,
        SliceLocation="-12.5", InstanceNumber="7", AcquisitionNumber="3", ContentDate="20250102",
        RetrieveAETitle="ORTHANC", ImageID="",
    )
    ds.add_new(0x00091010, "LO", "private stuff")
    ds.add_new(0x00081115, "SQ", Sequence([response(SeriesInstanceUID=SERIES_UID)]))
    ds.add_new(0x00280034, "IS", ["1", "1"])  # PixelAspectRatio, multi-valued
    ds.add_new(0x00181310, "US", [0, 256, 256, 0])  # AcquisitionMatrix, multi-valued binary
    ds.add_new(0x00089007, "CS", ["ORIGINAL", "PRIMARY"])
    match = decode_identifier(encode_with_pydicom(ds, syntax), syntax, IMAGE)
    assert match.attributes == {
        "QueryRetrieveLevel": "IMAGE", "PatientName": "SMITH^JOHN", "SOPInstanceUID": SOP_UID,
        "ImageType": "ORIGINAL\\PRIMARY\\AXIAL", "Rows": "512", "Columns": "1024",
        "SliceLocation": "-12.5", "InstanceNumber": "7", "AcquisitionNumber": "3",
        "ContentDate": "20250102", "RetrieveAETitle": "ORTHANC", "ImageID": "",
        "PixelAspectRatio": "1\\1", "AcquisitionMatrix": "0\\256\\256\\0",
        "FrameType": "ORIGINAL\\PRIMARY",
    }
    assert match.key == SOP_UID


@pytest.mark.parametrize(
    ("charset", "name", "raw"),
    [
        ("ISO_IR 100", "Müller^Jürgen", b"M\xfcller^J\xfcrgen"),
        ("ISO_IR 192", "山田^太郎", "山田^太郎".encode()),
        (None, "SMITH^JOHN", b"SMITH^JOHN"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎", b"=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"),
        ("ISO_IR 144", "Люкceмбypг", "Люкceмбypг".encode("iso8859_5")),
    ],
)
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_text_is_decoded_per_specific_character_set(
    charset: str | list[str] | None, name: str, raw: bytes, syntax: str
) -> None:
    ds = response(PatientName=name, StudyDescription=name.replace("^", " "))
    if charset is not None:
        ds.SpecificCharacterSet = charset
    data = encode_with_pydicom(ds, syntax)
    assert raw in data, "pydicom encoded the name in the character set"
    match = decode_identifier(data, syntax, STUDY)
    assert match.get("PatientName") == name
    assert match.get("StudyDescription") == name.replace("^", " ")
    assert "SpecificCharacterSet" not in match.attributes


def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """One element in Explicit VR Little Endian, written by hand (odd values included)."""
    head = group.to_bytes(2, "little") + elem.to_bytes(2, "little") + vr
    if vr in (b"UN", b"OB", b"SQ", b"UT"):
        return head + b"\x00\x00" + len(value).to_bytes(4, "little") + value
    return head + len(value).to_bytes(2, "little") + value


def test_odd_values_are_kept_as_received() -> None:
    data = (
        element(0x0008, 0x0020, b"DA", b"2025-13-45")
        + element(0x0008, 0x1030, b"LO", b"trailing spaces   ")
        + element(0x0010, 0x0010, b"PN", b"")
        + element(0x0010, 0x0020, b"LO", b"X" * 100)
        + element(0x0010, 0x1030, b"DS", b"heavy ")
        + element(0x0010, 0x21B0, b"LT", b"  a\\b  ")
        + element(0x0020, 0x000D, b"UI", STUDY_UID.encode() + b"\x00")
    )
    match = decode_identifier(data, cf.EXPLICIT_VR_LITTLE_ENDIAN, STUDY)
    assert match.attributes == {
        "StudyDate": "2025-13-45", "StudyInstanceUID": STUDY_UID, "PatientID": "X" * 100,
        "StudyDescription": "trailing spaces", "PatientWeight": "heavy", "PatientName": "",
        "AdditionalPatientHistory": "  a\\b",
    }


def test_unknown_charset_invalid_bytes_and_un_vr_are_tolerated() -> None:
    # an unknown character set, bytes that are not UTF-8, and public attributes sent with
    # VR UN (as some archives do)
    data = (
        element(0x0008, 0x0005, b"CS", b"ISO_IR 999")
        + element(0x0008, 0x0020, b"DA", b"20250101")
        + element(0x0008, 0x1030, b"LO", b"caf\xe9")
        + element(0x0010, 0x0010, b"UN", b"DOE^JANE")
        + element(0x0028, 0x0010, b"UN", (512).to_bytes(2, "little"))
        + element(0x0029, 0x1010, b"OB", b"\x01\x02")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom names the unknown character set
        attributes = decode_identifier(data, cf.EXPLICIT_VR_LITTLE_ENDIAN, STUDY).attributes
    assert attributes["StudyDate"] == "20250101"
    assert attributes["StudyDescription"].startswith("caf")
    assert attributes["PatientName"] == "DOE^JANE"
    assert attributes["Rows"] == "512"
    assert set(attributes) == {"StudyDate", "StudyDescription", "PatientName", "Rows"}
    utf8 = element(0x0008, 0x0005, b"CS", b"ISO_IR 192") + element(0x0010, 0x0010, b"PN", b"A\xff")
    match = decode_identifier(utf8, cf.EXPLICIT_VR_LITTLE_ENDIAN, STUDY)
    assert match.get("PatientName") == "A\ufffd"


def test_decoding_does_not_log_values(caplog: pytest.LogCaptureFixture) -> None:
    data = (element(0x0008, 0x0020, b"DA", b"not a date")
            + element(0x0010, 0x0010, b"PN", b"SECRET^NAME ")
            + element(0x0010, 0x0040, b"CS", b"XYZ-1234"))
    caplog.set_level("DEBUG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        match = decode_identifier(data, cf.EXPLICIT_VR_LITTLE_ENDIAN, STUDY)
    assert match.get("PatientName") == "SECRET^NAME"
    assert "SECRET" not in caplog.text


@pytest.mark.parametrize(
    "data",
    [b"", b"\x08\x00", b"\x08\x00\x20\x00DA\x08\x0020", b"\x08\x00\x20\x00\x08\x00\x00\x002025"],
)
def test_bytes_that_are_not_a_data_set_raise_query_error(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom says which VR encoding it found
        with pytest.raises(QueryError, match="not a DICOM data set"):
            decode_identifier(data, cf.EXPLICIT_VR_LITTLE_ENDIAN, STUDY)


def test_unsupported_transfer_syntax_raises_query_error() -> None:
    ds = build_find_identifier(Query(), STUDY_ROOT)
    with pytest.raises(QueryError, match="not used for identifiers"):
        encode_identifier(ds, cf.JPEG_BASELINE_8BIT)
    with pytest.raises(QueryError, match="not used for identifiers"):
        decode_identifier(b"\x08\x00\x52\x00", cf.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, STUDY)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), syntax=st.sampled_from(SYNTAXES))
def test_fuzz_arbitrary_bytes_give_a_match_or_query_error(data: bytes, syntax: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            match = decode_identifier(data, syntax, STUDY)
        except QueryError:
            return
    assert isinstance(match, QueryMatch)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in match.attributes.items())


_VALID = encode_identifier(
    build_find_identifier(
        Query(level=IMAGE, patient_id="VÉT", study_instance_uid=STUDY_UID,
              series_instance_uid=SERIES_UID),
        PATIENT_ROOT,
    ),
    cf.EXPLICIT_VR_LITTLE_ENDIAN,
)


@settings(max_examples=400, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, len(_VALID)),
    syntax=st.sampled_from(SYNTAXES),
)
def test_fuzz_damaged_identifiers_give_a_match_or_query_error(
    edits: list[tuple[int, int]], cut: int, syntax: str
) -> None:
    data = bytearray(_VALID)
    for position, byte in edits:
        data[position] = byte
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            match = decode_identifier(bytes(data[:cut]), syntax, IMAGE)
        except QueryError:
            return
    assert isinstance(match, QueryMatch)


def _rich_identifier(undefined_length_sequence: bool) -> Dataset:
    """A response with what peers send: a character set, UN and private elements, a
    multi-valued binary, and a sequence (defined or undefined length)."""
    ds = response(SpecificCharacterSet="ISO_IR 100", QueryRetrieveLevel="IMAGE",
                  PatientName="M\u00fcller^J\u00fcrgen", SOPInstanceUID=SOP_UID, Rows=512,
                  ImageType=["ORIGINAL", "PRIMARY"], SliceLocation="-12.5", ImageID="")
    ds.add_new(0x00091010, "LO", "private stuff")
    ds.add_new(0x00181310, "US", [0, 256, 256, 0])
    ds.add_new(0x00081115, "SQ", Sequence([response(SeriesInstanceUID=SERIES_UID)]))
    ds[0x00081115].is_undefined_length = undefined_length_sequence
    ds.add_new(0x00200013, "IS", "7")
    return ds


_LITTLE_ENDIAN = [cf.IMPLICIT_VR_LITTLE_ENDIAN, cf.EXPLICIT_VR_LITTLE_ENDIAN]


def _both_readers(data: bytes, syntax: str) -> tuple[object, object]:
    """What decode_identifier and the pydicom reader make of ``data``: attributes or
    ``QueryError``."""
    results: list[object] = []
    for read in (lambda: decode_identifier(data, syntax, IMAGE),
                 lambda: _decode_with_pydicom(data, syntax == cf.IMPLICIT_VR_LITTLE_ENDIAN,
                                              True, IMAGE)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                results.append(read().attributes)
            except QueryError:
                results.append(QueryError)
    return results[0], results[1]


@pytest.mark.parametrize("syntax", _LITTLE_ENDIAN)
def test_plain_identifiers_are_read_without_pydicom_and_as_pydicom_reads_them(syntax: str) -> None:
    plain = encode_with_pydicom(_rich_identifier(False), syntax)
    assert _plain_elements(plain, syntax == cf.IMPLICIT_VR_LITTLE_ENDIAN) is not None
    fast, reference = _both_readers(plain, syntax)
    assert fast == reference
    assert isinstance(fast, dict) and fast["PatientName"] == "M\u00fcller^J\u00fcrgen"
    assert fast["AcquisitionMatrix"] == "0\\256\\256\\0" and "ReferencedSeriesSequence" not in fast
    # an undefined length is left to pydicom, with the same result
    nested = encode_with_pydicom(_rich_identifier(True), syntax)
    assert _plain_elements(nested, syntax == cf.IMPLICIT_VR_LITTLE_ENDIAN) is None
    assert decode_identifier(nested, syntax, IMAGE).attributes == fast


_RICH = {syntax: encode_with_pydicom(_rich_identifier(False), syntax) for syntax in _LITTLE_ENDIAN}


@settings(max_examples=500, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 10_000),
    syntax=st.sampled_from(_LITTLE_ENDIAN),
)
def test_fuzz_the_fast_reader_agrees_with_pydicom(
    edits: list[tuple[int, int]], cut: int, syntax: str
) -> None:
    data = bytearray(_RICH[syntax])
    for position, byte in edits:
        data[position % len(data)] = byte
    fast, reference = _both_readers(bytes(data[: cut % (len(data) + 1)]), syntax)
    assert fast == reference


# --- SOP classes ---------------------------------------------------------------------------


def test_sop_classes_of_each_model() -> None:
    assert find_sop_class(PATIENT_ROOT) == cf.PATIENT_ROOT_QR_FIND == "1.2.840.10008.5.1.4.1.2.1.1"
    assert move_sop_class(PATIENT_ROOT) == cf.PATIENT_ROOT_QR_MOVE
    assert get_sop_class(PATIENT_ROOT) == cf.PATIENT_ROOT_QR_GET
    assert find_sop_class(STUDY_ROOT) == cf.STUDY_ROOT_QR_FIND == "1.2.840.10008.5.1.4.1.2.2.1"
    assert move_sop_class(STUDY_ROOT) == cf.STUDY_ROOT_QR_MOVE
    assert get_sop_class(STUDY_ROOT) == cf.STUDY_ROOT_QR_GET
