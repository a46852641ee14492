"""Read queries over the index tables, shared by :class:`~pacslink.store.index.Index`.

Kept apart from the write path so a later C-FIND matcher can reuse the joins; every
function takes an open :class:`sqlalchemy.engine.Connection` and returns models.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pacslink.models import SeriesSummary, StoredInstance, StudyDetail, StudySummary
from pacslink.store.schema import ATTRIBUTES, FILE_COLUMNS, TABLES, instance, patient, series, study


@functools.cache
def instance_select() -> sa.Select[Any]:
    """Return a SELECT of instances joined up to their patient.

    Each row has one column per attribute of :data:`~.schema.ATTRIBUTES` (named after
    the attribute's column), the file columns, ``instance_pk`` and ``series_pk``. The
    statement is built once; ``.where()`` and friends return new statements.
    """
    columns: list[Any] = [TABLES[a.level].c[a.column] for a in ATTRIBUTES]
    columns += [instance.c[c] for c in FILE_COLUMNS]
    columns += [instance.c.pk.label("instance_pk"), instance.c.series_pk]
    joined = (
        instance.join(series, instance.c.series_pk == series.c.pk)
        .join(study, series.c.study_pk == study.c.pk)
        .join(patient, study.c.patient_pk == patient.c.pk)
    )
    return sa.select(*columns).select_from(joined)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def study_summaries(
    conn: Connection, *, patient_id: str | None = None, study_instance_uid: str | None = None
) -> list[StudySummary]:
    """Return study summaries with series/instance counts and modalities.

    Parameters
    ----------
    conn : Connection
        An open connection.
    patient_id : str, optional
        Only studies of this Patient ID (exact match).
    study_instance_uid : str, optional
        Only this study.

    Returns
    -------
    list of StudySummary
        Newest Study Date and Time first, then by Study Instance UID.
    """
    conditions: list[Any] = []
    if patient_id is not None:
        conditions.append(patient.c.patient_id == patient_id)
    if study_instance_uid is not None:
        conditions.append(study.c.study_instance_uid == study_instance_uid)
    joined = study.join(patient, study.c.patient_pk == patient.c.pk)
    rows = conn.execute(
        sa.select(
            study,
            patient.c.patient_id,
            patient.c.patient_name,
            patient.c.patient_birth_date,
            patient.c.patient_sex,
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(
            sa.func.coalesce(study.c.study_date, "").desc(),
            sa.func.coalesce(study.c.study_time, "").desc(),
            study.c.study_instance_uid,
        )
    ).all()
    if not rows:
        return []
    wanted = sa.select(study.c.pk).select_from(joined).where(*conditions)
    stats = conn.execute(
        sa.select(series.c.study_pk, series.c.modality, sa.func.count(instance.c.pk).label("n"))
        .select_from(series.outerjoin(instance, instance.c.series_pk == series.c.pk))
        .where(series.c.study_pk.in_(wanted))
        .group_by(series.c.pk, series.c.study_pk, series.c.modality)
    ).all()
    series_count: dict[int, int] = defaultdict(int)
    instance_count: dict[int, int] = defaultdict(int)
    modalities: dict[int, set[str]] = defaultdict(set)
    for stat in stats:
        series_count[stat.study_pk] += 1
        instance_count[stat.study_pk] += int(stat.n)
        if stat.modality:
            modalities[stat.study_pk].add(stat.modality)
    return [
        StudySummary(
            patient_id=_text(r.patient_id),
            patient_name=_text(r.patient_name),
            study_instance_uid=_text(r.study_instance_uid),
            study_date=_text(r.study_date),
            study_description=_text(r.study_description),
            modalities=tuple(sorted(modalities[r.pk])),
            series_count=series_count[r.pk],
            instance_count=instance_count[r.pk],
            study_time=_text(r.study_time),
            accession_number=_text(r.accession_number),
            study_id=_text(r.study_id),
            referring_physician_name=_text(r.referring_physician_name),
            patient_birth_date=_text(r.patient_birth_date),
            patient_sex=_text(r.patient_sex),
        )
        for r in rows
    ]


def _number_key(number: int | None, uid: str) -> tuple[bool, int, str]:
    return (number is None, number or 0, uid)


def study_detail(
    conn: Connection, summary: StudySummary, instances: list[tuple[int, StoredInstance]]
) -> StudyDetail:
    """Assemble a :class:`~pacslink.models.StudyDetail`.

    Parameters
    ----------
    conn : Connection
        An open connection (the series rows are read from it).
    summary : StudySummary
        The study.
    instances : list of (series_pk, StoredInstance)
        Every instance of the study with the pk of its series row.

    Returns
    -------
    StudyDetail
        Series ordered by Series Number, instances by Instance Number (unnumbered
        last, then by UID).
    """
    by_series: dict[int, list[StoredInstance]] = defaultdict(list)
    for series_pk, item in instances:
        by_series[series_pk].append(item)
    rows = conn.execute(
        sa.select(series)
        .join(study, series.c.study_pk == study.c.pk)
        .where(study.c.study_instance_uid == summary.study_instance_uid)
    ).all()
    result = []
    for r in rows:
        members = sorted(
            by_series[r.pk], key=lambda i: _number_key(i.instance_number, i.sop_instance_uid)
        )
        result.append(
            SeriesSummary(
                series_instance_uid=_text(r.series_instance_uid),
                modality=_text(r.modality),
                series_number=r.series_number,
                series_description=_text(r.series_description),
                series_date=_text(r.series_date),
                instance_count=len(members),
                instances=tuple(members),
            )
        )
    result.sort(key=lambda s: _number_key(s.series_number, s.series_instance_uid))
    return StudyDetail(study=summary, series=tuple(result))


__all__ = ["instance_select", "study_detail", "study_summaries"]
