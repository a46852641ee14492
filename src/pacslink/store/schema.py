"""The index tables (SQLAlchemy Core) and the DICOM attributes they hold.

Four tables follow the Patient Root information model of PS3.4 C.6.1 so that a later
Query/Retrieve SCP can answer C-FIND at each level by matching on columns::

    patient 1──* study 1──* series 1──* instance (+ the file: path, size, sha256, ...)

Each attribute the index keeps is declared once in :data:`ATTRIBUTES` with its DICOM
keyword, tag, column and level; the tables are built from that list, so the keyword to
column map a C-FIND matcher needs is :func:`column_for`. Text is stored as pydicom decodes
it (Specific Character Set applied, padding stripped, multiple values joined with ``\\``
as on the wire); dates and times keep their DICOM form (``YYYYMMDD``, ``HHMMSS.FFFFFF``),
which sorts and range-matches as text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydicom.datadict import tag_for_keyword

#: Bumped whenever the tables change incompatibly; stored in ``pacslink_meta``.
SCHEMA_VERSION = 1


class Level(str, enum.Enum):
    """The information-model level an attribute belongs to (PS3.4 C.6.1.1)."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class Kind(enum.Enum):
    """How an attribute's value is kept in the index."""

    TEXT = "text"
    """One string; multiple values joined with a backslash."""
    INT = "int"
    """An integer (IS, US); the first value if several."""
    FLOAT = "float"
    """A float (DS); the first value if several."""


@dataclass(frozen=True)
class Attribute:
    """One DICOM attribute recorded in the index.

    Parameters
    ----------
    keyword : str
        The DICOM keyword, e.g. ``PatientID``.
    column : str
        The column name, e.g. ``patient_id``.
    level : Level
        The table the column lives in.
    kind : Kind
        How the value is stored.
    key : bool
        The unique key of its level (Patient ID, Study/Series/SOP Instance UID). Keys are
        ``NOT NULL`` (empty string when the data set lacks them) and length-checked.
    """

    keyword: str
    column: str
    level: Level
    kind: Kind = Kind.TEXT
    key: bool = False

    @property
    def tag(self) -> int:
        """The attribute's tag as an integer, e.g. ``0x00100020``."""
        tag = tag_for_keyword(self.keyword)
        assert tag is not None, self.keyword
        return int(tag)


_P, _ST, _SE, _IM = Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE

#: Every attribute the index records, in table order.
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("PatientID", "patient_id", _P, key=True),
    Attribute("PatientName", "patient_name", _P),
    Attribute("PatientBirthDate", "patient_birth_date", _P),
    Attribute("PatientSex", "patient_sex", _P),
    Attribute("PatientWeight", "patient_weight", _P, Kind.FLOAT),
    Attribute("StudyInstanceUID", "study_instance_uid", _ST, key=True),
    Attribute("StudyDate", "study_date", _ST),
    Attribute("StudyTime", "study_time", _ST),
    Attribute("StudyDescription", "study_description", _ST),
    Attribute("ReferringPhysicianName", "referring_physician_name", _ST),
    Attribute("AccessionNumber", "accession_number", _ST),
    Attribute("StudyID", "study_id", _ST),
    Attribute("SeriesInstanceUID", "series_instance_uid", _SE, key=True),
    Attribute("Modality", "modality", _SE),
    Attribute("SeriesNumber", "series_number", _SE, Kind.INT),
    Attribute("SeriesDate", "series_date", _SE),
    Attribute("SeriesTime", "series_time", _SE),
    Attribute("SeriesDescription", "series_description", _SE),
    Attribute("BodyPartExamined", "body_part_examined", _SE),
    Attribute("ProtocolName", "protocol_name", _SE),
    Attribute("PatientPosition", "patient_position", _SE),
    Attribute("SOPInstanceUID", "sop_instance_uid", _IM, key=True),
    Attribute("SOPClassUID", "sop_class_uid", _IM),
    Attribute("InstanceNumber", "instance_number", _IM, Kind.INT),
    Attribute("ContentDate", "content_date", _IM),
    Attribute("ContentTime", "content_time", _IM),
    Attribute("ImageType", "image_type", _IM),
    Attribute("SliceLocation", "slice_location", _IM, Kind.FLOAT),
    Attribute("ImageID", "image_id", _IM),
    Attribute("AcquisitionDate", "acquisition_date", _IM),
    Attribute("AcquisitionTime", "acquisition_time", _IM),
    Attribute("AcquisitionNumber", "acquisition_number", _IM, Kind.INT),
    Attribute("Rows", "rows", _IM, Kind.INT),
    Attribute("Columns", "columns", _IM, Kind.INT),
    Attribute("NumberOfFrames", "number_of_frames", _IM, Kind.INT),
)

BY_KEYWORD: dict[str, Attribute] = {a.keyword: a for a in ATTRIBUTES}

#: The largest tag among :data:`ATTRIBUTES`; header parsing stops after it.
LAST_TAG: int = max(a.tag for a in ATTRIBUTES)


def attributes_of(level: Level) -> tuple[Attribute, ...]:
    """Return the attributes stored in the table of ``level``."""
    return tuple(a for a in ATTRIBUTES if a.level is level)


def column_for(keyword: str) -> sa.Column[Any]:
    """Return the table column holding the attribute ``keyword``.

    Raises
    ------
    KeyError
        If the index does not record that attribute.
    """
    attr = BY_KEYWORD[keyword]
    return TABLES[attr.level].c[attr.column]


def _columns(level: Level) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = []
    for attr in attributes_of(level):
        sql_type: sa.types.TypeEngine[Any]
        if attr.kind is Kind.INT:
            sql_type = sa.BigInteger()
        elif attr.kind is Kind.FLOAT:
            sql_type = sa.Float()
        else:
            sql_type = sa.Text()
        if attr.key:
            columns.append(sa.Column(attr.column, sql_type, nullable=False, unique=True))
        else:
            columns.append(sa.Column(attr.column, sql_type, nullable=True))
    return columns


metadata = sa.MetaData()

meta_table = sa.Table(
    "pacslink_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

patient = sa.Table(
    "patient",
    metadata,
    sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
    *_columns(Level.PATIENT),
    sa.Index("ix_patient_patient_name", "patient_name"),
)

study = sa.Table(
    "study",
    metadata,
    sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "patient_pk", sa.ForeignKey("patient.pk", ondelete="CASCADE"), nullable=False, index=True
    ),
    *_columns(Level.STUDY),
    sa.Index("ix_study_study_date", "study_date"),
    sa.Index("ix_study_accession_number", "accession_number"),
)

series = sa.Table(
    "series",
    metadata,
    sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "study_pk", sa.ForeignKey("study.pk", ondelete="CASCADE"), nullable=False, index=True
    ),
    *_columns(Level.SERIES),
    sa.Index("ix_series_modality", "modality"),
)

instance = sa.Table(
    "instance",
    metadata,
    sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "series_pk", sa.ForeignKey("series.pk", ondelete="CASCADE"), nullable=False, index=True
    ),
    *_columns(Level.IMAGE),
    sa.Column("path", sa.Text(), nullable=False, unique=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("transfer_syntax_uid", sa.Text(), nullable=False),
    sa.Column("calling_ae", sa.Text(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_instance_sop_class_uid", "sop_class_uid"),
)

#: The table of each level.
TABLES: dict[Level, sa.Table] = {
    Level.PATIENT: patient,
    Level.STUDY: study,
    Level.SERIES: series,
    Level.IMAGE: instance,
}

#: Columns of ``instance`` that describe the stored file rather than the data set.
FILE_COLUMNS = ("path", "size", "sha256", "transfer_syntax_uid", "calling_ae", "received_at")

__all__ = [
    "ATTRIBUTES",
    "BY_KEYWORD",
    "FILE_COLUMNS",
    "LAST_TAG",
    "SCHEMA_VERSION",
    "TABLES",
    "Attribute",
    "Kind",
    "Level",
    "attributes_of",
    "column_for",
    "instance",
    "meta_table",
    "metadata",
    "patient",
    "series",
    "study",
]
