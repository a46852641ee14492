"""Retrieve jobs: start one, read its counters, follow it live (Server-Sent Events).

::

    POST /api/retrieves                {"ae": "PACS1", "study_instance_uid": "1.2.3"}  -> 202 job
    GET  /api/retrieves/{id}           the job: state, counts, missing, error
    GET  /api/retrieves/{id}/events    text/event-stream: "progress" events, then "done"
    POST /api/retrieves/{id}/retry     a new job for the instances still missing
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from pacslink.api import RetrieveTarget
from pacslink.web.app import WebState, web_state
from pacslink.web.jobs import RetrieveJob
from pacslink.web.pixels import NotFound
from pacslink.web.schemas import InputError, RetrieveIn

router = APIRouter(tags=["retrieve"])
Web = Annotated[WebState, Depends(web_state)]
#: Seconds between keep-alive comments on an idle event stream.
HEARTBEAT = 15.0


def _job(web: WebState, job_id: str) -> RetrieveJob:
    job = web.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no retrieve {job_id!r} (this pacslink keeps the last "
                       f"{web.jobs.keep} finished ones until it is restarted)")
    return job


@router.post("/api/retrieves", status_code=202, summary="Start a retrieve into the local store")
async def start_retrieve(web: Web, body: RetrieveIn) -> dict[str, Any]:
    """C-MOVE to our own Storage SCP (or C-GET, per the AE's setting) as a background job.

    Series and instances are listed first (image-level C-FIND), so the job knows what
    to expect and reports what is missing at the end.
    """
    ae = web.pacslink.resolve(body.ae)
    if body.sop_instance_uids and body.series_instance_uid is None:
        raise InputError("sop_instance_uids need series_instance_uid (the series they "
                         "belong to)")
    target = RetrieveTarget(body.study_instance_uid, body.series_instance_uid,
                            tuple(body.sop_instance_uids), body.patient_id)
    job = web.jobs.start(ae, target, method=body.method, retries=body.retries)
    return job.as_json()


@router.get("/api/retrieves", summary="Retrieves of this pacslink, newest first")
async def list_retrieves(web: Web) -> list[dict[str, Any]]:
    return [job.as_json() for job in web.jobs.all()]


@router.get("/api/retrieves/{job_id}", summary="One retrieve: state and counters")
async def get_retrieve(web: Web, job_id: str) -> dict[str, Any]:
    """``counts``: expected (from the C-FIND listing), arrived (in our store), the peer's
    completed / failed / warning / remaining, and at the end ``missing``."""
    return _job(web, job_id).as_json()


@router.post("/api/retrieves/{job_id}/retry", status_code=202,
             summary="Retrieve again what a finished retrieve is missing")
async def retry_retrieve(web: Web, job_id: str) -> dict[str, Any]:
    return web.jobs.retry_missing(_job(web, job_id)).as_json()


@router.get("/api/retrieves/{job_id}/events", summary="Follow a retrieve live (SSE)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`progress` events with the job, then `done`."}})
async def retrieve_events(web: Web, job_id: str) -> StreamingResponse:
    """Server-Sent Events: ``event: progress`` with the job's JSON on every change, and
    ``event: done`` with the final job; the stream then ends."""
    job = _job(web, job_id)

    async def events() -> AsyncIterator[bytes]:
        seen = -1
        yield b"retry: 2000\n\n"
        while True:
            if job.version != seen:
                seen = job.version
                kind = "done" if job.done else "progress"
                yield _event(kind, job.as_json())
                if job.done:
                    return
            elif not await job.wait_change(seen, HEARTBEAT):
                yield b": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


__all__ = ["router"]
