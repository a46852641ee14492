"""C-FIND matching and C-MOVE/C-GET selection over the index, on SQLite and PostgreSQL.

One small clinic is received once per backend (module-scoped, read-only afterwards):

====== ======= ============= ======== ====== ============ ===========================
study  patient name          date     time   accession    series (modality: instances)
====== ======= ============= ======== ====== ============ ===========================
A      VET001  Barker^Rex    20240131 101500 ACC1         1 CT: 3 (numbers 3, 1, 2), 2 MR: 2
B      VET001  Barker^Rex    20250615 093000 ACC_2        1 US: 1   description "100%_done"
C      VET002  BARKER^MAX    20251231 235959 ACCX2        1 CT: 1   description "100abc done"
D      VET003  Müller^Jörg   20230301 080000 ACC4         1 DX: 1   (ISO_IR 192)
E      VET004  O'Neil^Bella  (none)   (none) ACC5         1 CT: 1   description "[draft] CT"
====== ======= ============= ======== ====== ============ ===========================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import pytest
import sqlalchemy as sa
from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.tag import Tag

from pacslink.identifiers import build_find_identifier, decode_identifier, encode_identifier
from pacslink.models import Query, QueryLevel, QueryModel
from pacslink.store import Index, Store
from pacslink.store.matching import IdentifierError, find_matches, locate_instances
from pacslink.store.schema import instance, patient, series, study
from tests.factory import EXPLICIT_VR_LITTLE_ENDIAN, make_ct
from tests.store.conftest import _new_postgres_database, receive

STUDY_ROOT, PATIENT_ROOT = QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT
A, B, C, D, E = (f"1.2.826.0.1.3680043.10.{n}" for n in range(1, 6))
DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def _clinic() -> Iterator[Dataset]:
    """Yield the data sets of the module docstring's table."""
    studies: list[tuple[Any, ...]] = [
        (A, "VET001", "Barker^Rex", "20240131", "101500", "ACC1", "CT HEAD",
         [("CT", [3, 1, 2]), ("MR", [1, 2])], {}),
        (B, "VET001", "Barker^Rex", "20250615", "093000", "ACC_2", "100%_done",
         [("US", [1])], {}),
        (C, "VET002", "BARKER^MAX", "20251231", "235959", "ACCX2", "100abc done",
         [("CT", [1])], {}),
        (D, "VET003", "Müller^Jörg", "20230301", "080000", "ACC4", "Röntgen Thorax",
         [("DX", [1])], {"SpecificCharacterSet": "ISO_IR 192", "sop_class_uid": DX_STORAGE}),
        (E, "VET004", "O'Neil^Bella", None, None, "ACC5", "[draft] CT", [("CT", [1])],
         {"StudyID": "E!1"}),
    ]
    for uid, pid, name, date, time, accession, description, all_series, extra in studies:
        for number, (modality, instance_numbers) in enumerate(all_series, start=1):
            for instance_number in instance_numbers:
                yield make_ct(
                    patient_id=pid, patient_name=name, study_instance_uid=uid,
                    series_instance_uid=f"{uid}.{number}",
                    sop_instance_uid=f"{uid}.{number}.{instance_number}",
                    series_number=number, instance_number=instance_number, modality=modality,
                    StudyDate=date, StudyTime=time, AccessionNumber=accession,
                    StudyDescription=description, **extra,
                )


@dataclass(frozen=True)
class Clinic:
    index: Index
    store: Store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clinic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp(f"matching-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root}/index.sqlite"
    else:
        url = _new_postgres_database(request.getfixturevalue("postgres_server"))
    index = Index(url)
    store = Store(root / "store", index, min_free_bytes=0)
    for ds in _clinic():
        receive(store, ds, EXPLICIT_VR_LITTLE_ENDIAN)
    yield Clinic(index, store)
    index.close()


def identifier(**keys: str) -> Dataset:
    """An identifier with these keys, built without pydicom's value validation."""
    ds = Dataset()
    for keyword, value in keys.items():
        vr = dictionary_VR(keyword).split(" ")[0]
        ds[keyword] = DataElement(keyword, vr, value or None, validation_mode=config.IGNORE)
    return ds


def find(clinic: Clinic, level: str = "STUDY", model: QueryModel = STUDY_ROOT,
         limit: int | None = None, **keys: str) -> list[Dataset]:
    return find_matches(clinic.index, QueryLevel(level), model, identifier(**keys), limit=limit)


def studies(clinic: Clinic, **keys: str) -> list[str]:
    """The Study Instance UIDs a STUDY level Study Root query matches, in order."""
    request = identifier(**{"StudyInstanceUID": "", **keys})
    return [ds.StudyInstanceUID for ds in find_matches(
        clinic.index, QueryLevel.STUDY, STUDY_ROOT, request)]


def test_single_value_matching_is_exact_and_case_sensitive(clinic: Clinic) -> None:
    assert studies(clinic, PatientID="VET002") == [C]
    assert studies(clinic, StudyDescription="CT HEAD") == [A]
    assert studies(clinic, StudyDescription="ct head") == []
    assert studies(clinic, StudyInstanceUID=D) == [D]
    assert studies(clinic, AccessionNumber="ACC") == []


def test_universal_matching_and_order(clinic: Clinic) -> None:
    # newest study first; a study without a date last
    assert studies(clinic) == [C, B, A, D, E]
    assert studies(clinic, PatientName="*") == [C, B, A, D, E]
    assert studies(clinic, StudyDate="-") == [C, B, A, D, E]
    assert studies(clinic, StudyDate="") == [C, B, A, D, E]


def test_wild_cards(clinic: Clinic) -> None:
    assert studies(clinic, PatientName="barker*") == [C, B, A]
    assert studies(clinic, PatientName="B?RKER^R*") == [B, A]
    assert studies(clinic, StudyDescription="CT*") == [A]
    assert studies(clinic, StudyDescription="ct*") == []  # case-sensitive except PN
    assert studies(clinic, StudyDescription="*CT") == [E]
    assert studies(clinic, AccessionNumber="ACC?2") == [C, B]


def test_sql_wild_card_characters_in_data_are_literal(clinic: Clinic) -> None:
    assert studies(clinic, StudyDescription="100%*") == [B]  # not "100abc done"
    assert studies(clinic, AccessionNumber="ACC_*") == [B]  # not ACCX2
    assert studies(clinic, StudyDescription="100_*") == []
    assert studies(clinic, StudyID="*!1") == [E]  # the LIKE escape character
    assert studies(clinic, StudyID="E!?") == [E]
    assert studies(clinic, StudyDescription="[draft]*") == [E]  # GLOB's bracket


def test_date_ranges(clinic: Clinic) -> None:
    assert studies(clinic, StudyDate="20240101-20241231") == [A]
    assert studies(clinic, StudyDate="-20240131") == [A, D]
    assert studies(clinic, StudyDate="20250101-") == [C, B]
    assert studies(clinic, StudyDate="20250615") == [B]
    assert studies(clinic, StudyDate="20250616-20251230") == []
    assert studies(clinic, StudyDate="2025*") == []  # no wild cards on dates


def test_time_ranges(clinic: Clinic) -> None:
    assert studies(clinic, StudyTime="0800-1000") == [B, D]
    assert studies(clinic, StudyTime="-0930") == [B, D]  # 09:30:00 is within "-0930"
    assert studies(clinic, StudyTime="-0929") == [D]
    assert studies(clinic, StudyTime="2300-") == [C]
    assert studies(clinic, StudyDate="20240101-", StudyTime="-1200") == [B, A]


def test_list_of_uid_matching(clinic: Clinic) -> None:
    assert studies(clinic, StudyInstanceUID=f"{A}\\{C}\\1.2.404") == [C, A]
    found = find(clinic, "IMAGE", SOPInstanceUID=f"{A}.1.3\\{A}.2.1\\{B}.1.1")
    assert [ds.SOPInstanceUID for ds in found] == [f"{B}.1.1", f"{A}.1.3", f"{A}.2.1"]


def test_person_names_match_case_insensitively(clinic: Clinic) -> None:
    assert studies(clinic, PatientName="barker^rex") == [B, A]
    assert studies(clinic, PatientName="BARKER^REX") == [B, A]
    assert studies(clinic, ReferringPhysicianName="WHO^DOCTOR") == [C, B, A, D, E]
    assert studies(clinic, PatientName="Müller^Jörg") == [D]
    assert studies(clinic, PatientName="mü*") == [D]
    assert studies(clinic, PatientName="o'neil^bella") == [E]


def test_modalities_in_study(clinic: Clinic) -> None:
    found = {ds.StudyInstanceUID: ds.ModalitiesInStudy for ds in find(
        clinic, StudyInstanceUID="", ModalitiesInStudy="")}
    assert found[A] == ["CT", "MR"] and found[B] == "US" and found[D] == "DX"
    assert studies(clinic, ModalitiesInStudy="MR") == [A]
    assert studies(clinic, ModalitiesInStudy="CT") == [C, A, E]
    assert studies(clinic, ModalitiesInStudy="US\\DX") == [B, D]
    assert studies(clinic, ModalitiesInStudy="M?") == [A]
    assert studies(clinic, ModalitiesInStudy="XA") == []
    assert studies(clinic, SOPClassesInStudy=DX_STORAGE) == [D]


def test_counts(clinic: Clinic) -> None:
    found = {ds.StudyInstanceUID: ds for ds in find(
        clinic, StudyInstanceUID="", NumberOfStudyRelatedSeries="",
        NumberOfStudyRelatedInstances="", SOPClassesInStudy="")}
    assert (found[A].NumberOfStudyRelatedSeries, found[A].NumberOfStudyRelatedInstances) == (2, 5)
    assert (found[B].NumberOfStudyRelatedSeries, found[B].NumberOfStudyRelatedInstances) == (1, 1)
    assert found[D].SOPClassesInStudy == DX_STORAGE
    found_series = find(clinic, "SERIES", StudyInstanceUID=A, SeriesInstanceUID="",
                        NumberOfSeriesRelatedInstances="", NumberOfStudyRelatedInstances="")
    assert [ds.NumberOfSeriesRelatedInstances for ds in found_series] == [3, 2]
    assert [ds.NumberOfStudyRelatedInstances for ds in found_series] == [5, 5]


def test_responses_hold_exactly_the_requested_keys(clinic: Clinic) -> None:
    keys = {"PatientID": "VET002", "StudyDate": "", "PatientWeight": "", "PatientComments": "",
            "SeriesDescription": "", "RetrieveAETitle": "", "InstanceAvailability": "",
            "NumberOfStudyRelatedInstances": "", "StudyInstanceUID": ""}
    (match,) = find_matches(clinic.index, QueryLevel.STUDY, STUDY_ROOT, identifier(**keys))
    assert set(match.dir()) == {*keys, "QueryRetrieveLevel"}
    assert match.QueryRetrieveLevel == "STUDY"
    assert (match.PatientID, match.StudyInstanceUID, match.StudyDate) == ("VET002", C, "20251231")
    assert match.PatientWeight == 61.5 and match.InstanceAvailability == "ONLINE"
    # not recorded by the index, or below the query level: returned empty
    assert match.PatientComments in (None, "") and match.RetrieveAETitle in (None, "")
    assert match["SeriesDescription"].value in (None, "")
    assert "SpecificCharacterSet" not in match


def test_the_scus_own_identifier_is_answered(clinic: Clinic) -> None:
    request = build_find_identifier(Query(patient_id="VET001"), STUDY_ROOT)
    found = find_matches(clinic.index, QueryLevel.STUDY, STUDY_ROOT, request)
    assert [ds.StudyInstanceUID for ds in found] == [B, A]
    assert set(found[1].dir()) == set(request.dir())
    assert (found[1].NumberOfStudyRelatedInstances, found[1].ModalitiesInStudy) == (5, ["CT", "MR"])
    assert found[1].StudyDescription == "CT HEAD" and found[1].PatientSex == "F"


def test_non_ascii_values_are_sent_as_utf8(clinic: Clinic) -> None:
    (match,) = find(clinic, PatientID="VET003", PatientName="", StudyDescription="")
    assert match.SpecificCharacterSet == "ISO_IR 192"
    wire = encode_identifier(match, EXPLICIT_VR_LITTLE_ENDIAN)
    decoded = decode_identifier(wire, EXPLICIT_VR_LITTLE_ENDIAN, QueryLevel.STUDY)
    assert decoded.get("PatientName") == "Müller^Jörg"
    assert decoded.get("StudyDescription") == "Röntgen Thorax"


def test_raw_identifier_from_the_wire(clinic: Clinic) -> None:
    request = identifier(PatientName="Mü*", StudyInstanceUID="", StudyDate="-20240101")
    request.SpecificCharacterSet = "ISO_IR 192"
    wire = encode_identifier(request, EXPLICIT_VR_LITTLE_ENDIAN)
    raw = read_dataset(cast(BinaryIO, DicomBytesIO(wire)), False, True)
    found = find_matches(clinic.index, QueryLevel.STUDY, STUDY_ROOT, raw)
    assert [ds.StudyInstanceUID for ds in found] == [D]


def test_series_and_images_within_a_study(clinic: Clinic) -> None:
    found = find(clinic, "SERIES", StudyInstanceUID=A, SeriesInstanceUID="", Modality="",
                 SeriesNumber="")
    assert [(ds.SeriesNumber, ds.Modality) for ds in found] == [(1, "CT"), (2, "MR")]
    assert all(ds.StudyInstanceUID == A for ds in found)
    ct = find(clinic, "SERIES", Modality="CT", SeriesInstanceUID="")
    assert [ds.SeriesInstanceUID for ds in ct] == [f"{C}.1", f"{A}.1", f"{E}.1"]
    assert [ds.SeriesInstanceUID for ds in find(
        clinic, "SERIES", StudyInstanceUID=A, SeriesNumber="2", SeriesInstanceUID="")] == [
        f"{A}.2"]
    images = find(clinic, "IMAGE", StudyInstanceUID=A, SeriesInstanceUID=f"{A}.1",
                  SOPInstanceUID="", InstanceNumber="", Rows="")
    assert [(ds.InstanceNumber, ds.Rows) for ds in images] == [(1, 8), (2, 8), (3, 8)]
    for image_type in ("ORIGINAL\\PRIMARY\\AXIAL", "*\\AXIAL"):  # VM 3: the whole value
        found = find(clinic, "IMAGE", SeriesInstanceUID=f"{A}.2", ImageType=image_type)
        assert [ds.ImageType for ds in found] == [["ORIGINAL", "PRIMARY", "AXIAL"]] * 2
    assert find(clinic, "IMAGE", SeriesInstanceUID=f"{A}.2", ImageType="AXIAL") == []


def test_patient_root(clinic: Clinic) -> None:
    found = find(clinic, "PATIENT", PATIENT_ROOT, PatientName="barker*", PatientID="",
                 NumberOfPatientRelatedStudies="", NumberOfPatientRelatedSeries="",
                 NumberOfPatientRelatedInstances="", StudyInstanceUID="")
    assert [ds.PatientID for ds in found] == ["VET001", "VET002"]
    counts = [(ds.NumberOfPatientRelatedStudies, ds.NumberOfPatientRelatedSeries,
               ds.NumberOfPatientRelatedInstances) for ds in found]
    assert counts == [(2, 3, 6), (1, 1, 1)]
    assert found[0]["StudyInstanceUID"].value in (None, "")  # below the PATIENT level
    assert [ds.StudyInstanceUID for ds in find(
        clinic, "STUDY", PATIENT_ROOT, PatientID="VET001", StudyInstanceUID="")] == [B, A]


def test_study_root_has_no_patient_level(clinic: Clinic) -> None:
    with pytest.raises(IdentifierError, match="Study Root") as caught:
        find(clinic, "PATIENT", PatientID="VET001")
    assert isinstance(caught.value, ValueError)


def test_malformed_values_are_refused_without_echoing_them(clinic: Clinic) -> None:
    with pytest.raises(IdentifierError, match="StudyDate") as caught:
        studies(clinic, StudyDate="20240101-20250101-SECRET")
    assert "SECRET" not in str(caught.value)
    with pytest.raises(IdentifierError, match="StudyTime"):
        studies(clinic, StudyTime="10:00-'; DROP TABLE study")
    with pytest.raises(IdentifierError, match="more than 5000"):
        studies(clinic, StudyInstanceUID="\\".join(f"1.2.{n}" for n in range(5001)))
    raw = Dataset()  # as read from the wire: pydicom would refuse to build this IS value
    raw[0x00200011] = RawDataElement(Tag(0x00200011), "IS", 2, b"1*", 0, False, True)
    with pytest.raises(IdentifierError, match="SeriesNumber"):
        find_matches(clinic.index, QueryLevel.SERIES, STUDY_ROOT, raw)


def test_hostile_values_are_only_values(clinic: Clinic) -> None:
    for hostile in ("'; DROP TABLE patient; --", "x' OR '1'='1", "*' OR 1=1 --*",
                    "\"; DELETE FROM study; --", "%' OR ''='"):
        assert studies(clinic, PatientName=hostile) == []
        assert studies(clinic, PatientID=hostile) == []
        assert studies(clinic, StudyDescription=hostile) == []
    assert studies(clinic, StudyInstanceUID="1.2'); DELETE FROM study; --\\1") == []
    assert studies(clinic, StudyDate="'; DROP TABLE study;") == []
    with pytest.raises(IdentifierError):  # not a range: refused before any SQL
        studies(clinic, StudyDate="'; DROP TABLE study; -")
    assert studies(clinic, PatientName="O'Neil^Bella") == [E]
    with clinic.index.engine.connect() as conn:
        counts = [conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                  for t in (patient, study, series, instance)]
    assert counts == [4, 5, 6, 9]


def test_limit(clinic: Clinic) -> None:
    assert [ds.StudyInstanceUID for ds in find(clinic, limit=2, StudyInstanceUID="")] == [C, B]
    assert find(clinic, limit=0, StudyInstanceUID="") == []


def locate(clinic: Clinic, level: str, model: QueryModel = STUDY_ROOT, **keys: str) -> list[str]:
    found = locate_instances(clinic.index, QueryLevel(level), model, identifier(**keys))
    assert all(clinic.store.path_of(item).is_file() for item in found)
    return [item.sop_instance_uid for item in found]


def test_locate_instances_at_each_level(clinic: Clinic) -> None:
    study_a = [f"{A}.1.1", f"{A}.1.2", f"{A}.1.3", f"{A}.2.1", f"{A}.2.2"]
    assert locate(clinic, "STUDY", StudyInstanceUID=A) == study_a
    assert locate(clinic, "STUDY", StudyInstanceUID=f"{B}\\{A}") == study_a + [f"{B}.1.1"]
    assert locate(clinic, "SERIES", StudyInstanceUID=A, SeriesInstanceUID=f"{A}.2") == study_a[3:]
    assert locate(clinic, "IMAGE", SOPInstanceUID=f"{A}.2.1\\{A}.1.3\\1.2.404") == [
        f"{A}.1.3", f"{A}.2.1"]
    assert locate(clinic, "PATIENT", PATIENT_ROOT, PatientID="VET001") == study_a + [f"{B}.1.1"]
    assert locate(clinic, "STUDY", PATIENT_ROOT, PatientID="VET001", StudyInstanceUID=A) == study_a
    # a unique key above the level restricts: study A is not VET002's
    assert locate(clinic, "STUDY", PATIENT_ROOT, PatientID="VET002", StudyInstanceUID=A) == []
    assert locate(clinic, "STUDY", StudyInstanceUID="'; DROP TABLE instance; --") == []
    many = [f"1.2.404.{n}" for n in range(1500)] + [f"{B}.1.1", f"{A}.1.2"]  # in chunks
    assert locate(clinic, "IMAGE", SOPInstanceUID="\\".join(many)) == [f"{A}.1.2", f"{B}.1.1"]
    (item,) = locate_instances(clinic.index, QueryLevel.IMAGE, STUDY_ROOT,
                               identifier(SOPInstanceUID=f"{D}.1.1"))
    assert item == clinic.index.get_instance(f"{D}.1.1")


def test_locate_needs_the_unique_key_of_its_level(clinic: Clinic) -> None:
    for level, keys in (("STUDY", {"PatientID": "VET001"}),
                        ("SERIES", {"StudyInstanceUID": A}),
                        ("IMAGE", {"SOPInstanceUID": ""})):
        with pytest.raises(IdentifierError, match="needs") as caught:
            locate(clinic, level, STUDY_ROOT, **keys)
        assert isinstance(caught.value, ValueError)
    with pytest.raises(IdentifierError, match="Study Root"):
        locate(clinic, "PATIENT", PatientID="VET001")
