"""The local store (studies on this computer) and what the viewer reads from it.

Window/level is applied by the browser: ``/api/instances/{uid}/frames/{n}/values`` sends
a grey frame's modality values once, as little-endian ``int16``, ``int32`` or
``float32`` (header ``X-Pixel-Type``; ``X-Rows``, ``X-Columns``, ``X-Min``, ``X-Max``).
Colour frames come as PNG (``/frames/{n}.png``); objects without pixels as an
attribute table (``/attributes``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Query as QueryParam
from fastapi.responses import Response

from pacslink.web import pixels
from pacslink.web.app import WebState, web_state
from pacslink.web.jobs import JobConflict
from pacslink.web.pixels import NotFound
from pacslink.web.schemas import check_uid, instance_json, series_json, study_json

router = APIRouter(tags=["local store and viewer"])
Web = Annotated[WebState, Depends(web_state)]
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A PNG image."}}
CACHE = {"Cache-Control": "private, max-age=300"}


@router.get("/api/local/studies", summary="Studies on this computer, newest first")
async def local_studies(
    web: Web,
    patient_id: Annotated[str | None, QueryParam(max_length=64,
                                                 description="Only this Patient ID.")] = None,
) -> dict[str, Any]:
    studies = await asyncio.to_thread(web.pacslink.list_studies, patient_id or None)
    return {"patients": len({s.patient_id for s in studies}), "studies_count": len(studies),
            "instances": sum(s.instance_count for s in studies),
            "studies": [study_json(s) for s in studies]}


@router.get("/api/local/studies/{study_instance_uid}", summary="A study on this computer")
async def local_study(web: Web, study_instance_uid: str) -> dict[str, Any]:
    check_uid(study_instance_uid, "Study Instance UID")
    detail = await asyncio.to_thread(web.pacslink.study_detail, study_instance_uid)
    if detail is None:
        raise NotFound(f"this computer holds no study {study_instance_uid}")
    return {"study": study_json(detail.study),
            "series": [series_json(s) for s in detail.series],
            "jobs": [j.as_json() for j in web.jobs.running_for(study_instance_uid)]}


@router.delete("/api/local/studies/{study_instance_uid}",
               summary="Delete a study from this computer (files and index rows)")
async def delete_local_study(web: Web, study_instance_uid: str) -> dict[str, Any]:
    """Removes the study's index rows, then its files. Refused while it is being retrieved."""
    check_uid(study_instance_uid, "Study Instance UID")
    if web.jobs.running_for(study_instance_uid):
        raise JobConflict("this study is being retrieved right now; wait until the "
                            "retrieve has finished, then delete it")
    removed = await asyncio.to_thread(web.pacslink.delete_study, study_instance_uid)
    if not removed:
        raise NotFound(f"this computer holds no study {study_instance_uid}")
    web.instances.forget({i.sop_instance_uid for i in removed})
    return {"study_instance_uid": study_instance_uid, "deleted_instances": len(removed)}


@router.get("/api/series/{series_instance_uid}",
            summary="A local series and its instances (the viewer's list)")
async def local_series(web: Web, series_instance_uid: str) -> dict[str, Any]:
    """Instances in Instance Number order; ``receiving`` is true while a retrieve of its
    study runs (the viewer polls until it is false)."""
    check_uid(series_instance_uid, "Series Instance UID")
    found = await asyncio.to_thread(web.pacslink.series_detail, series_instance_uid)
    if found is None:
        raise NotFound(f"this computer holds no series {series_instance_uid} (yet): "
                       "retrieve it from the study page")
    detail, series = found
    jobs = web.jobs.running_for(detail.study.study_instance_uid)
    return {"study": study_json(detail.study),
            "series": series_json(series, with_instances=True),
            "other_series": [series_json(s) for s in detail.series],
            "receiving": bool(jobs), "jobs": [j.as_json() for j in jobs]}


@router.get("/api/instances/{sop_instance_uid}",
            summary="An instance: index values and how to display it")
async def instance(web: Web, sop_instance_uid: str) -> dict[str, Any]:
    """``display.kind`` is ``grey`` (fetch ``values``), ``rgb`` (fetch the PNG) or
    ``none`` (fetch ``attributes``); ``display`` also has the window and presets."""
    check_uid(sop_instance_uid, "SOP Instance UID")
    found = await asyncio.to_thread(web.pacslink.instance_file, sop_instance_uid)
    if found is None:
        raise NotFound(f"this computer holds no instance {sop_instance_uid}")
    item = found[0]
    _, info = await asyncio.to_thread(web.instances.info, sop_instance_uid)
    return {**instance_json(item), "series_instance_uid": item.series_instance_uid,
            "study_instance_uid": item.study_instance_uid,
            "modality": item.attributes.get("Modality", ""),
            "display": pixels.display_json(info)}


@router.get("/api/instances/{sop_instance_uid}/attributes",
            summary="An instance's attributes as a table (no pixel or bulk data)")
async def attributes(web: Web, sop_instance_uid: str) -> dict[str, Any]:
    check_uid(sop_instance_uid, "SOP Instance UID")
    ds = await asyncio.to_thread(web.instances.dataset, sop_instance_uid)
    rows = await asyncio.to_thread(pixels.attribute_rows, ds)
    return {"sop_instance_uid": sop_instance_uid, "rows": rows}


@router.get("/api/instances/{sop_instance_uid}/frames/{frame}/values",
            summary="A grey frame's modality values (binary, little endian)",
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "rows x columns values, row by row; the type "
                                            "is in X-Pixel-Type (int16, int32, float32)."}})
async def frame_values(web: Web, sop_instance_uid: str, frame: int) -> Response:
    """Values after the Modality LUT (Rescale Slope/Intercept): Hounsfield units for CT."""
    check_uid(sop_instance_uid, "SOP Instance UID")
    values = await asyncio.to_thread(pixels.frame_values, web.instances, sop_instance_uid,
                                     frame)
    headers = {"X-Rows": str(values.rows), "X-Columns": str(values.columns),
               "X-Pixel-Type": values.pixel_type, "X-Min": repr(values.min_value),
               "X-Max": repr(values.max_value), **CACHE}
    return Response(values.data, media_type="application/octet-stream", headers=headers)


@router.get("/api/instances/{sop_instance_uid}/frames/{frame}.png",
            summary="A frame rendered as PNG", response_class=Response, responses=PNG)
async def frame_png(
    web: Web, sop_instance_uid: str, frame: int,
    center: float | None = None, width: Annotated[float | None, QueryParam(gt=0)] = None,
    invert: bool | None = None,
    max_size: Annotated[int | None, QueryParam(ge=16, le=4096)] = None,
) -> Response:
    """Colour frames as they are; grey frames through the window given (else the file's)."""
    check_uid(sop_instance_uid, "SOP Instance UID")
    data = await asyncio.to_thread(pixels.frame_png, web.instances, sop_instance_uid, frame,
                                   center=center, width=width, invert=invert,
                                   max_size=max_size)
    return Response(data, media_type="image/png", headers=CACHE)


@router.get("/api/instances/{sop_instance_uid}/thumbnail.png",
            summary="A small PNG of the instance's first frame", response_class=Response,
            responses=PNG)
async def thumbnail(
    web: Web, sop_instance_uid: str,
    size: Annotated[int, QueryParam(ge=16, le=512)] = 128,
) -> Response:
    check_uid(sop_instance_uid, "SOP Instance UID")
    data = await asyncio.to_thread(pixels.frame_png, web.instances, sop_instance_uid, 0,
                                   max_size=size)
    return Response(data, media_type="image/png", headers=CACHE)


__all__ = ["router"]
