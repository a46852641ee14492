"""pacslink's own dictionary of identifier attributes, and what it lets ``pacslink find`` do
without pydicom: each entry, VR set and character set table agrees with pydicom, and the
hand-encoded C-FIND request is byte for byte what pydicom writes for the same query."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from pacslink import conformance as cf
from pacslink.errors import QueryError
from pacslink.identifier_reader import COMMON_CHARSETS, _decode_with_pydicom, decode_identifier
from pacslink.identifiers import (
    build_find_identifier,
    encode_find_identifier,
    encode_identifier,
    encode_values,
    return_keys,
)
from pacslink.models import Query, QueryLevel, QueryModel
from pacslink.query_dictionary import BY_KEYWORD, BY_TAG
from pacslink.vr import LONG_LENGTH_VRS, SHORT_LENGTH_VRS, VR_TEXT

SYNTAXES = (cf.IMPLICIT_VR_LITTLE_ENDIAN, cf.EXPLICIT_VR_LITTLE_ENDIAN, cf.EXPLICIT_VR_BIG_ENDIAN)
LEVELS_AND_MODELS = [(level, model) for model in QueryModel for level in QueryLevel
                     if not (level is QueryLevel.PATIENT and model is QueryModel.STUDY_ROOT)]


def test_every_entry_is_pydicoms() -> None:
    for tag, (keyword, vr) in BY_TAG.items():
        assert keyword_for_tag(tag) == keyword, hex(tag)
        assert dictionary_VR(tag) == vr, keyword
    assert {kw: tag for kw, (tag, _) in BY_KEYWORD.items()} == {
        kw: tag for tag, (kw, _) in BY_TAG.items()}


def test_every_key_pacslink_requests_is_in_the_dictionary() -> None:
    for level, model in LEVELS_AND_MODELS:
        for keyword in return_keys(level, model):
            assert keyword in BY_KEYWORD, keyword
    for keyword in ("QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
                    "InstanceAvailability"):
        assert keyword in BY_KEYWORD


def test_vr_sets_are_pydicoms() -> None:
    assert {str(vr) for vr in VR if len(str(vr)) == 2} == set(VR_TEXT.values())
    assert {str(vr).encode() for vr in EXPLICIT_VR_LENGTH_32} == LONG_LENGTH_VRS
    assert not LONG_LENGTH_VRS & SHORT_LENGTH_VRS


@pytest.mark.parametrize("value", sorted(COMMON_CHARSETS))
def test_common_character_sets_are_pydicoms(value: bytes) -> None:
    terms = [t.strip(" \x00") for t in value.decode("latin-1").split("\\")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert tuple(convert_encodings(terms)) == COMMON_CHARSETS[value]


# --- the request ---------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\\*?"), max_size=20)
_UID = st.from_regex(r"(0|[1-9][0-9]{0,5})(\.(0|[1-9][0-9]{0,5})){1,6}", fullmatch=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    level_model=st.sampled_from(LEVELS_AND_MODELS),
    patient_id=st.one_of(st.none(), _TEXT, st.just("VET*")),
    name=st.one_of(st.none(), _TEXT, st.just("M\u00fcller^J*")),
    date=st.one_of(st.none(), st.sampled_from(["20240101", "20240101-20241231", "-20240101"])),
    modality=st.one_of(st.none(), st.sampled_from(["CT", "MR", "DX", "US*"])),
    study=st.one_of(st.none(), _UID),
    series=st.one_of(st.none(), _UID),
    instances=st.one_of(st.none(), _UID, st.lists(_UID, min_size=2, max_size=3).map("\\".join)),
    syntax=st.sampled_from(SYNTAXES),
)
def test_the_request_is_what_pydicom_writes(
    level_model: tuple[QueryLevel, QueryModel], patient_id: str | None, name: str | None,
    date: str | None, modality: str | None, study: str | None, series: str | None,
    instances: str | None, syntax: str,
) -> None:
    level, model = level_model
    query = Query(level=level, patient_id=patient_id, patient_name=name, study_date=date,
                  modality=modality, study_instance_uid=study, series_instance_uid=series,
                  sop_instance_uid=instances)
    try:
        reference = encode_identifier(build_find_identifier(query, model), syntax)
    except QueryError as exc:
        with pytest.raises(QueryError) as raised:
            encode_find_identifier(query, model, syntax)
        assert str(raised.value) == str(exc)
        return
    assert encode_find_identifier(query, model, syntax) == reference


def test_a_keyword_outside_the_dictionary_is_encoded_through_pydicom() -> None:
    values = {"PatientID": "VET001", "PatientSpeciesDescription": "Canine"}
    assert "PatientSpeciesDescription" not in BY_KEYWORD
    data = encode_values(QueryLevel.PATIENT, values, cf.EXPLICIT_VR_LITTLE_ENDIAN)
    match = decode_identifier(data, cf.EXPLICIT_VR_LITTLE_ENDIAN, QueryLevel.PATIENT)
    assert match.attributes == {"QueryRetrieveLevel": "PATIENT", "PatientID": "VET001",
                                "PatientSpeciesDescription": "Canine"}


# --- the answers ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    values=st.dictionaries(st.sampled_from(sorted(BY_KEYWORD)), _TEXT, max_size=12),
    syntax=st.sampled_from(SYNTAXES[:2]),
)
def test_answers_are_read_as_pydicom_reads_them(values: dict[str, str], syntax: str) -> None:
    values.pop("SpecificCharacterSet", None)
    values.pop("QueryRetrieveLevel", None)
    texts = {kw: v for kw, v in values.items() if BY_KEYWORD[kw][1] not in ("US",)}
    data = encode_values(QueryLevel.IMAGE, texts, syntax)
    implicit = syntax == cf.IMPLICIT_VR_LITTLE_ENDIAN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _decode_with_pydicom(data, implicit, True, QueryLevel.IMAGE).attributes
        assert decode_identifier(data, syntax, QueryLevel.IMAGE).attributes == reference
