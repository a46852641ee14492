"""C-FIND matching and C-MOVE/C-GET instance selection over the index (PS3.4 C.4.1, C.4.2).

What a Query/Retrieve SCP needs from the store: :func:`find_matches` answers a C-FIND
identifier with one response identifier per match; :func:`locate_instances` lists the
instances a C-MOVE or C-GET identifier selects. Both run in the caller's thread (the SCP
uses a worker thread) and read in one transaction.

::

    ds = Dataset()
    ds.PatientName, ds.StudyDate, ds.StudyInstanceUID = "DOE*", "20250101-", ""
    for match in find_matches(index, QueryLevel.STUDY, QueryModel.STUDY_ROOT, ds):
        ...  # PatientName, StudyDate, StudyInstanceUID and QueryRetrieveLevel filled in

The per-key matching rules are those of :mod:`pacslink.store.matchkeys`. A query at a
level joins the tables of that level and every level above, so any key the index records
at or above the level matches (unique keys above the level restrict the search, PS3.4
C.4.1.2.1; other keys above it are matched too, as a relational query would). Keys the
index does not record, and keys below the query level, are not matched: they come back
empty (PS3.4 C.4.1.1.3.2). Computed keys are filled in (counts, Modalities in Study, SOP
Classes in Study, Instance Availability ``ONLINE``); Modalities in Study and SOP Classes in
Study also match, a study matching when any of its series or instances does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import format_number_as_ds
from sqlalchemy.engine import Connection, Row, RowMapping

from pacslink.models import QueryLevel, QueryModel, StoredInstance
from pacslink.store.index import Index
from pacslink.store.matchkeys import (
    IdentifierError,
    Key,
    binary,
    chunks,
    condition,
    dictionary_vr,
    read_keys,
)
from pacslink.store.query import instance_select
from pacslink.store.schema import ATTRIBUTES, BY_KEYWORD, Kind, column_for
from pacslink.store.schema import instance as instance_t
from pacslink.store.schema import patient as patient_t
from pacslink.store.schema import series as series_t
from pacslink.store.schema import study as study_t

_LEVELS: Final = tuple(QueryLevel)  # PATIENT, STUDY, SERIES, IMAGE: depth = position
_TABLES: Final = (patient_t, study_t, series_t, instance_t)
_PARENT_FK: Final = ("", "patient_pk", "study_pk", "series_pk")
_UNIQUE: Final = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_DEPTH_OF: Final = {a.keyword: _LEVELS.index(QueryLevel(a.level.value)) for a in ATTRIBUTES}
#: Keys computed from the levels below: keyword -> depth of the entity they describe.
_COMPUTED: Final = {
    "NumberOfPatientRelatedStudies": 0, "NumberOfPatientRelatedSeries": 0,
    "NumberOfPatientRelatedInstances": 0, "NumberOfStudyRelatedSeries": 1,
    "NumberOfStudyRelatedInstances": 1, "ModalitiesInStudy": 1, "SOPClassesInStudy": 1,
    "NumberOfSeriesRelatedInstances": 2, "InstanceAvailability": 1,
}
_NOT_COMPUTED: Final = len(_LEVELS)  # deeper than any query level


def _depth(level: QueryLevel, model: QueryModel) -> int:
    level, model = QueryLevel(level), QueryModel(model)
    if level is QueryLevel.PATIENT and model is QueryModel.STUDY_ROOT:
        raise IdentifierError("the Study Root information model has no PATIENT level "
                              "(PS3.4 C.6.2.1): use Patient Root, or query at STUDY level")
    return _LEVELS.index(level)


def find_matches(
    index: Index,
    level: QueryLevel,
    model: QueryModel,
    identifier: Dataset,
    *,
    limit: int | None = None,
) -> list[Dataset]:
    """Match a C-FIND request identifier against the index (PS3.4 C.4.1.2, C.2.2.2).

    Parameters
    ----------
    index : Index
        The index to search.
    level : QueryLevel
        The request's Query/Retrieve Level (0008,0052); PATIENT needs Patient Root.
    model : QueryModel
        The information model of the C-FIND SOP class (PS3.4 C.6.1, C.6.2).
    identifier : pydicom.dataset.Dataset
        The request identifier, decoded or raw: every attribute but Specific Character
        Set and Query/Retrieve Level is a key, matched when it has a value.
    limit : int, optional
        Return at most this many matches (the first in order).

    Returns
    -------
    list of pydicom.dataset.Dataset
        One response identifier per match (PS3.4 C.4.1.1.3.2): Query/Retrieve Level and
        exactly the request's keys, filled from the index where it knows them, else empty;
        Specific Character Set ``ISO_IR 192`` when a value is not ASCII. Ordered newest
        study first (Study Date, Time), then Series Number and Instance Number; patients
        by Patient ID.

    Raises
    ------
    IdentifierError
        For PATIENT level in Study Root or a malformed key value (-> 0xA900 or 0xC000).
    StoreError
        If the database fails.

    Notes
    -----
    Not matched, only returned: keys the index does not record (returned empty), keys
    below the query level (empty), the counts and Instance Availability (computed), and
    sequences (empty). Matching rules per VR: :mod:`pacslink.store.matchkeys`.
    """
    depth = _depth(level, model)
    if limit is not None and limit <= 0:
        return []
    keys = read_keys(identifier)
    dialect = index.engine.dialect.name
    where = [c for c in (_key_condition(key, depth, dialect) for key in keys) if c is not None]
    statement = _select(depth).where(*where).order_by(*_order(depth, dialect))
    if limit is not None:
        statement = statement.limit(limit)
    wanted = {key.keyword for key in keys if _COMPUTED.get(key.keyword, _NOT_COMPUTED) <= depth
              and key.keyword != "InstanceAvailability"}
    # The index's own read transaction: it serialises a shared in-memory connection and
    # reports driver errors as StoreError without patient data.
    with index._transaction("matching a C-FIND identifier", write=False) as conn:
        rows = conn.execute(statement).all()
        computed = _computed(conn, rows, wanted)
    return [_response(row._mapping, keys, QueryLevel(level), depth, computed) for row in rows]


def _key_condition(key: Key, depth: int, dialect: str) -> sa.ColumnElement[bool] | None:
    attr = BY_KEYWORD.get(key.keyword)
    if attr is not None:
        if _DEPTH_OF[key.keyword] > depth:
            return None  # below the query level: not a key here (PS3.4 C.4.1.2.1)
        return condition(column_for(key.keyword), key, dialect=dialect, kind=attr.kind)
    if depth < 1 or key.keyword not in ("ModalitiesInStudy", "SOPClassesInStudy"):
        return None  # not recorded by the index: ignored for matching, returned empty
    inner_series, inner_instance = series_t.alias("k_series"), instance_t.alias("k_instance")
    if key.keyword == "ModalitiesInStudy":
        test = condition(inner_series.c.modality, Key(key.tag, key.keyword, "CS", key.value),
                         dialect=dialect)
        source: sa.FromClause = inner_series
    else:
        test = condition(inner_instance.c.sop_class_uid,
                         Key(key.tag, key.keyword, "UI", key.value), dialect=dialect)
        source = inner_series.join(inner_instance,
                                   inner_instance.c.series_pk == inner_series.c.pk)
    if test is None:
        return None
    return sa.exists(
        sa.select(inner_series.c.pk).select_from(source)
        .where(inner_series.c.study_pk == study_t.c.pk, test).correlate(study_t)
    )


def _select(depth: int) -> sa.Select[Any]:
    tables = _TABLES[: depth + 1]
    joined: sa.FromClause = tables[0]
    for d in range(1, depth + 1):
        joined = joined.join(tables[d], tables[d].c[_PARENT_FK[d]] == tables[d - 1].c.pk)
    columns: list[Any] = [column_for(a.keyword) for a in ATTRIBUTES
                          if _DEPTH_OF[a.keyword] <= depth]
    columns += [table.c.pk.label(f"pk{d}") for d, table in enumerate(tables)]
    return sa.select(*columns).select_from(joined)


def _order(depth: int, dialect: str) -> list[Any]:
    if depth == 0:
        return [binary(patient_t.c.patient_id, dialect), patient_t.c.pk]
    order: list[Any] = [
        sa.nulls_last(binary(study_t.c.study_date, dialect).desc()),
        sa.nulls_last(binary(study_t.c.study_time, dialect).desc()),
        binary(study_t.c.study_instance_uid, dialect),
    ]
    if depth >= 2:
        order += [sa.nulls_last(series_t.c.series_number.asc()),
                  binary(series_t.c.series_instance_uid, dialect)]
    if depth >= 3:
        order += [sa.nulls_last(instance_t.c.instance_number.asc()),
                  binary(instance_t.c.sop_instance_uid, dialect)]
    return order


def _computed(
    conn: Connection, rows: Sequence[Row[Any]], wanted: set[str]
) -> dict[str, dict[int, Any]]:
    """Compute the summary keys in ``wanted`` for the entities of ``rows``: keyword -> pk -> value."""
    result: dict[str, dict[int, Any]] = defaultdict(dict)
    if not rows or not wanted:
        return result
    pks = {d: sorted({int(r._mapping[f"pk{d}"]) for r in rows})
           for d in {_COMPUTED[kw] for kw in wanted}}
    counts = sa.func.count
    for chunk in chunks(pks.get(0, ())):
        joined = (study_t.outerjoin(series_t, series_t.c.study_pk == study_t.c.pk)
                  .outerjoin(instance_t, instance_t.c.series_pk == series_t.c.pk))
        for r in conn.execute(
            sa.select(study_t.c.patient_pk, counts(sa.distinct(study_t.c.pk)),
                      counts(sa.distinct(series_t.c.pk)), counts(instance_t.c.pk))
            .select_from(joined).where(study_t.c.patient_pk.in_(chunk))
            .group_by(study_t.c.patient_pk)
        ):
            for keyword, number in zip(("Studies", "Series", "Instances"), r[1:], strict=True):
                result[f"NumberOfPatientRelated{keyword}"][r[0]] = int(number)
    for chunk in chunks(pks.get(1, ())):
        joined = series_t.outerjoin(instance_t, instance_t.c.series_pk == series_t.c.pk)
        for r in conn.execute(  # one row per series
            sa.select(series_t.c.study_pk, series_t.c.modality, counts(instance_t.c.pk))
            .select_from(joined).where(series_t.c.study_pk.in_(chunk))
            .group_by(series_t.c.pk, series_t.c.study_pk, series_t.c.modality)
        ):
            for keyword, number in (("Series", 1), ("Instances", int(r[2]))):
                counts_of = result[f"NumberOfStudyRelated{keyword}"]
                counts_of[r[0]] = counts_of.get(r[0], 0) + number
            if r[1]:
                result["ModalitiesInStudy"].setdefault(r[0], set()).add(r[1])
        if "SOPClassesInStudy" in wanted:
            for r in conn.execute(
                sa.select(series_t.c.study_pk, instance_t.c.sop_class_uid).distinct()
                .select_from(instance_t.join(series_t, instance_t.c.series_pk == series_t.c.pk))
                .where(series_t.c.study_pk.in_(chunk), instance_t.c.sop_class_uid.is_not(None))
            ):
                result["SOPClassesInStudy"].setdefault(r[0], set()).add(r[1])
    for chunk in chunks(pks.get(2, ())):
        for r in conn.execute(
            sa.select(instance_t.c.series_pk, counts(instance_t.c.pk))
            .where(instance_t.c.series_pk.in_(chunk)).group_by(instance_t.c.series_pk)
        ):
            result["NumberOfSeriesRelatedInstances"][r[0]] = int(r[1])
    return result


def _value(key: Key, row: RowMapping, depth: int, computed: Mapping[str, Any]) -> Any:
    """The value the response gives ``key``; ``None`` for an empty attribute."""
    attr = BY_KEYWORD.get(key.keyword)
    if attr is not None:
        value = row[attr.column] if _DEPTH_OF[key.keyword] <= depth else None
        return _ds_text(value) if attr.kind is Kind.FLOAT and value is not None else value
    owner = _COMPUTED.get(key.keyword, _NOT_COMPUTED)
    if owner > depth:
        return None  # the index does not know it (PS3.4 C.4.1.1.3.2: returned empty)
    if key.keyword == "InstanceAvailability":
        return "ONLINE"  # every indexed instance has its file in the store
    found = computed.get(key.keyword, {}).get(int(row[f"pk{owner}"]))
    if key.keyword.startswith("NumberOf"):
        return found or 0
    return sorted(found) if found else None


def _ds_text(number: float) -> str:
    """A float as a Decimal String of at most 16 characters (PS3.5 6.2 DS)."""
    text = str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return text if len(text) <= 16 else str(format_number_as_ds(number))


def _response(
    row: RowMapping, keys: list[Key], level: QueryLevel, depth: int,
    computed: Mapping[str, Any],
) -> Dataset:
    values = [(key, _value(key, row, depth, computed)) for key in keys]
    ds = Dataset()
    if any(_non_ascii(value) for _, value in values):
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level.value
    for key, value in values:
        vr = dictionary_vr(key.tag, key.vr) if key.keyword else key.vr
        if vr == "SQ":
            ds.add(DataElement(key.tag, vr, DicomSequence()))
            continue
        if isinstance(value, str) and "\\" in value and vr not in ("LT", "ST", "UT", "UR"):
            value = value.split("\\")
        content = None if value is None or value == "" else value
        ds.add(DataElement(key.tag, vr, content, validation_mode=config.IGNORE))
    return ds


def _non_ascii(value: Any) -> bool:
    if isinstance(value, list):
        return any(_non_ascii(v) for v in value)
    return isinstance(value, str) and not value.isascii()


def locate_instances(
    index: Index, level: QueryLevel, model: QueryModel, identifier: Dataset
) -> list[StoredInstance]:
    """Return the instances a C-MOVE or C-GET identifier selects (PS3.4 C.4.2.1.4, C.4.3.1.3).

    The identifier holds unique keys (PS3.4 C.4.2.2.1): the one of ``level``, a single
    value or a backslash-separated list, and optionally those of the levels above, which
    restrict the selection. Values match exactly (no wild cards); other keys are ignored.

    Parameters
    ----------
    index : Index
        The index to read.
    level : QueryLevel
        The Query/Retrieve Level: PATIENT (Patient Root only: all the patient's
        instances), STUDY, SERIES or IMAGE.
    model : QueryModel
        The information model of the C-MOVE or C-GET SOP class.
    identifier : pydicom.dataset.Dataset
        The request identifier, decoded or raw.

    Returns
    -------
    list of StoredInstance
        Each selected instance once, by study (Study Date, UID), then Series Number,
        then Instance Number (unnumbered last, then by UID). Empty if nothing matches.

    Raises
    ------
    IdentifierError
        If the identifier lacks the unique key of its level, or for PATIENT level in
        Study Root (the SCP answers 0xA900 or 0xC000).
    StoreError
        If the database fails.
    """
    depth = _depth(level, model)
    given = {
        key.keyword: list(dict.fromkeys(v for v in key.values if v))
        for key in read_keys(identifier)
        if key.keyword in _UNIQUE[: depth + 1]
    }
    own = _UNIQUE[depth]
    if not given.get(own):
        raise IdentifierError(f"a {QueryLevel(level).value} level retrieve needs {own} "
                              "(PS3.4 C.4.2.2.1): it names what to retrieve")
    restrict = [column_for(kw).in_(values) for kw, values in given.items()
                if kw != own and values]
    rows: dict[int, Row[Any]] = {}
    with index._transaction("selecting instances to retrieve", write=False) as conn:
        for chunk in chunks(given[own]):
            statement = instance_select().where(column_for(own).in_(chunk), *restrict)
            rows.update((int(r.instance_pk), r) for r in conn.execute(statement))
    ordered = sorted(rows.values(), key=_retrieve_order)
    return [index._to_instance(row) for row in ordered]


def _retrieve_order(row: Row[Any]) -> tuple[Any, ...]:
    m = row._mapping
    return (
        m["study_date"] or "", m["study_instance_uid"],
        m["series_number"] is None, m["series_number"] or 0, m["series_instance_uid"],
        m["instance_number"] is None, m["instance_number"] or 0, m["sop_instance_uid"],
    )


__all__ = ["IdentifierError", "find_matches", "locate_instances"]
