"""Search every selected PACS by Patient ID (C-FIND), and look inside one remote study.

``GET /api/search/stream`` answers with NDJSON (one JSON object per line) as the AEs
answer: ``{"type": "match", ...}`` per study as it arrives, ``{"type": "ae", ...}`` when
one AE has finished (with the reason if it failed), then ``{"type": "done", ...}``.
``GET /api/search`` waits for every AE and answers one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends
from fastapi import Query as QueryParam
from fastapi.responses import StreamingResponse

from pacslink.api import AEQueryResult, Pacslink, Query, QueryLevel
from pacslink.errors import ConfigError, PacslinkError, QueryError
from pacslink.models import QueryMatch, RemoteAE
from pacslink.web.app import WebState, web_state
from pacslink.web.schemas import (
    InputError,
    check_date_range,
    check_modality,
    check_uid,
    series_json,
    study_json,
)

router = APIRouter(tags=["search"])
Web = Annotated[WebState, Depends(web_state)]

#: CLI option names in pacslink's query errors, as the search form labels them.
_FIELD_NAMES = {"--patient-id": "Patient ID", "--name": "Patient name", "--date": "Date",
                "--modality": "Modality", "--study-uid": "Study Instance UID",
                "--series-uid": "Series Instance UID", "--accession": "Accession number"}


def in_words(exc: QueryError) -> str:
    """A query error with the search form's field names instead of CLI options."""
    text = str(exc)
    for flag, label in _FIELD_NAMES.items():
        text = re.sub(re.escape(flag) + r"\b", label, text)
    return text


@dataclass(frozen=True)
class Search:
    """A validated search: the query and the AEs to ask."""

    query: Query
    aes: list[RemoteAE]


def search_params(
    web: Web,
    patient_id: Annotated[str | None, QueryParam(
        max_length=64, description="Patient ID (exact match).")] = None,
    patient_name: Annotated[str | None, QueryParam(
        max_length=200, description="Patient's name; * and ? are wildcards.")] = None,
    date: Annotated[str | None, QueryParam(
        max_length=17, description="Study date YYYYMMDD or range YYYYMMDD-YYYYMMDD.")] = None,
    modality: Annotated[str | None, QueryParam(max_length=16, description="e.g. CT")] = None,
    ae: Annotated[list[str] | None, QueryParam(
        description="Only these configured AEs (repeatable); default: all.")] = None,
) -> Search:
    """The search form's fields, validated with messages a person understands."""
    patient_id = (patient_id or "").strip() or None
    patient_name = (patient_name or "").strip() or None
    if patient_id is None and patient_name is None:
        raise InputError("type a Patient ID (or a patient's name) to search for")
    if patient_id is not None and ("*" in patient_id or "?" in patient_id):
        raise InputError("Patient ID matches one patient exactly; to search by a pattern "
                         "use the name field, e.g. SMITH*")
    date = check_date_range(date) if date and date.strip() else None
    modality = check_modality(modality) if modality and modality.strip() else None
    pacslink = web.pacslink
    if ae:
        aes = [pacslink.resolve(name) for name in ae]  # ConfigError -> 404
    else:
        aes = pacslink.remote_aes()
    if not aes:
        raise ConfigError("no remote AEs are configured yet; add your PACS on the "
                          "Settings page")
    query = Query(QueryLevel.STUDY, patient_id=patient_id, patient_name=patient_name,
                  study_date=date, modality=modality)
    return Search(query, aes)


SearchDep = Annotated[Search, Depends(search_params)]


def ae_json(result: AEQueryResult) -> dict[str, Any]:
    """One AE's answer: state ok/truncated/failed/timeout and why."""
    return {"ae": result.ae.name, "state": result.state, "ok": result.ok,
            "error": result.error or None, "matches": len(result.matches),
            "seconds": round(result.seconds, 3)}


async def local_studies(pacslink: Pacslink, patient_id: str | None) -> set[str]:
    """Study Instance UIDs the local store holds (of ``patient_id`` when given)."""
    studies = await asyncio.to_thread(pacslink.list_studies, patient_id)
    return {s.study_instance_uid for s in studies}


def _match_json(match: QueryMatch, local: set[str]) -> dict[str, Any]:
    return {**match.attributes, "local": match.get("StudyInstanceUID") in local}


@router.get("/api/search", summary="Search every selected AE and wait for all answers")
async def search(web: Web, params: SearchDep) -> dict[str, Any]:
    """C-FIND at STUDY level on every selected AE at once; studies merged by UID."""
    pacslink = web.pacslink
    try:
        result, local = await asyncio.gather(
            pacslink.find(params.query, aes=[a.name for a in params.aes]),
            local_studies(pacslink, params.query.patient_id))
    except QueryError as exc:
        raise QueryError(in_words(exc)) from exc
    return {
        "seconds": round(result.seconds, 3),
        "aes": [ae_json(r) for r in result.per_ae],
        "studies": [{**_match_json(row.match, local), "aes": row.aes} for row in result.rows],
    }


@router.get("/api/search/stream", summary="Search every selected AE; results as they arrive",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}},
                             "description": "One JSON object per line: start, match, ae, done."}})
async def search_stream(web: Web, params: SearchDep) -> StreamingResponse:
    """NDJSON: ``start``, then ``match`` per study per AE and ``ae`` per finished AE,
    then ``done``. An invalid query is refused (4xx) before anything is sent."""
    pacslink = web.pacslink
    names = [a.name for a in params.aes]
    local_task = asyncio.create_task(local_studies(pacslink, params.query.patient_id))
    stream = cast(AsyncGenerator[Any, None], pacslink.find_stream(params.query, aes=names))
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        first = await anext(stream)  # raises QueryError/ConfigError before the stream starts
    except StopAsyncIteration:
        first = None
    except QueryError as exc:
        local_task.cancel()
        raise QueryError(in_words(exc)) from exc
    except BaseException:
        local_task.cancel()
        raise

    async def lines() -> AsyncIterator[bytes]:
        studies: set[str] = set()
        try:
            local = await local_task
            yield _line({"type": "start", "aes": names})
            items: AsyncIterator[Any] = _chain(first, stream)
            async for item in items:
                if isinstance(item, AEQueryResult):
                    yield _line({"type": "ae", **ae_json(item)})
                else:
                    remote, match = item
                    studies.add(match.key)
                    yield _line({"type": "match", "ae": remote.name,
                                 "study": _match_json(match, local)})
            yield _line({"type": "done", "studies": len(studies),
                         "seconds": round(loop.time() - start, 3)})
        except PacslinkError as exc:
            yield _line({"type": "error", "detail": str(exc)})
        finally:
            await stream.aclose()

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    if first is not None:
        yield first
    async for item in rest:
        yield item


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False) + "\n").encode()


@router.get("/api/studies/{ae}/{study_instance_uid}",
            summary="A study on a remote AE: its series (C-FIND) and what is local")
async def remote_study(web: Web, ae: str, study_instance_uid: str) -> dict[str, Any]:
    """STUDY and SERIES level C-FINDs on ``ae`` merged with the local store's copy.

    ``error`` says why the AE could not list the series; the local series are still
    shown then.
    """
    check_uid(study_instance_uid, "Study Instance UID")
    pacslink = web.pacslink
    remote = pacslink.resolve(ae)
    found_study, found_series, detail = await asyncio.gather(
        pacslink.find(Query(QueryLevel.STUDY, study_instance_uid=study_instance_uid),
                      aes=[remote.name]),
        pacslink.find(Query(QueryLevel.SERIES, study_instance_uid=study_instance_uid),
                      aes=[remote.name]),
        asyncio.to_thread(pacslink.study_detail, study_instance_uid))
    errors = [r.error for r in (*found_study.per_ae, *found_series.per_ae) if not r.ok]
    study: dict[str, Any] = {}
    if detail is not None:
        summary = study_json(detail.study)
        study = {"PatientID": summary["patient_id"], "PatientName": summary["patient_name"],
                 "StudyDate": summary["study_date"],
                 "StudyDescription": summary["study_description"],
                 "AccessionNumber": summary["accession_number"],
                 "ModalitiesInStudy": "\\".join(summary["modalities"])}
    if found_study.rows:
        study.update({k: v for k, v in found_study.rows[0].match.attributes.items() if v})
    local_series = {s.series_instance_uid: series_json(s)
                    for s in (detail.series if detail else ())}
    series = []
    for row in found_series.rows:
        m = row.match
        uid = m.get("SeriesInstanceUID")
        here = local_series.pop(uid, None)
        remote_count = m.get("NumberOfSeriesRelatedInstances")
        series.append({
            "series_instance_uid": uid, "modality": m.get("Modality"),
            "series_number": _number(m.get("SeriesNumber")),
            "series_description": m.get("SeriesDescription"),
            "remote_count": _number(remote_count),
            "local_count": here["local_count"] if here else 0,
            "thumbnail_sop_instance_uid": here["thumbnail_sop_instance_uid"] if here else None,
            "on_remote": True,
        })
    for here in local_series.values():  # local only (e.g. deleted from the PACS since)
        series.append({**here, "remote_count": None, "on_remote": False})
    series.sort(key=lambda s: (s["series_number"] is None, s["series_number"] or 0))
    return {
        "ae": remote.name, "study_instance_uid": study_instance_uid, "study": study,
        "found": bool(found_study.rows or found_series.rows), "local": detail is not None,
        "series": series, "error": "; ".join(errors) or None,
        "jobs": [j.as_json() for j in web.jobs.running_for(study_instance_uid)],
    }


def _number(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


__all__ = ["router", "search_params"]
